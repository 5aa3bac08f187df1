"""The reading process's answer, computed in this process: its JSON shape, the page count of a
PDF with blank pages, a scan told from a text file without text, headings counted where they
repeat. (The process itself, its limits and its parent: tests/unit/infrastructure/
test_document_reader.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from coda.knowledge.reader_process import answer, output_limit
from tests.support.documents import blank_pdf, write_pdf

LIMITS: dict[str, Any] = {
    "max_bytes": 1 << 20,
    "max_pages": 10,
    "max_chars": 100,
    "memory_bytes": 512 << 20,
    "cpu_seconds": 11,
}


def limits(**changes: Any) -> dict[str, Any]:
    return {**LIMITS, "deadline": time.monotonic() + 10, **changes}


def test_sections_come_as_json_with_the_pdfs_page_count(tmp_path: Path) -> None:
    data = write_pdf(tmp_path / "p.pdf", ["One", " ", "Three"]).read_bytes()

    reply = json.loads(json.dumps(answer(data, "pdf", limits())))

    assert reply == {"sections": [["One", [], 1], ["Three", [], 3]], "pages": 3, "chars": 8}


def test_no_text_is_told_apart_for_a_pdf() -> None:
    assert answer(blank_pdf(1), "pdf", limits())["error"]["reason"] == "no_text_layer"
    assert answer(b"<p> </p>", "html", limits())["error"]["reason"] == "no_text"


def test_errors_carry_their_reason_and_params() -> None:
    error = answer(b"x" * 200, "text", limits(max_bytes=100))["error"]

    assert error["reason"] == "too_large"
    assert error["params"] == {"limit": 100, "size": 200, "unit": "bytes"}
    assert answer(b"x", "text", limits(deadline=time.monotonic()))["error"]["reason"] == "too_slow"


def test_repeated_headings_count_towards_the_limit() -> None:
    text = "# " + "h" * 40 + "\n" + "## a\nb\n" * 2  # 2 sections of 1 + 40 + 1 characters

    assert "sections" in answer(text.encode(), "markdown", limits())
    refused = answer((text + "## c\nd\n").encode(), "markdown", limits())["error"]
    assert (refused["reason"], refused["params"]["size"]) == ("too_large", 126)


def test_an_answer_within_the_limits_fits_its_output_bound() -> None:
    worst = answer(("\x01\n" * 50).encode(), "text", limits())  # 6 bytes a character in JSON

    assert len(json.dumps(worst, ensure_ascii=False).encode()) <= output_limit(LIMITS["max_chars"])
