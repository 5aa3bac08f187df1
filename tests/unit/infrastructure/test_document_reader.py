"""Uploads read by a child process on files the tests make: each kind into its sections, and each
hostile or broken file refused with its reason, within its time budget."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from coda.infrastructure.document_reader import (
    CODE_ROOT,
    MAX_READERS,
    ReadFile,
    UploadLimits,
    UploadRefused,
    read_upload,
)
from coda.knowledge.documents import Section
from tests.support.documents import (
    blank_pdf,
    encrypted_pdf,
    pdf_file,
    pdf_stream,
    write_docx,
    write_pdf,
    write_zip_bomb,
)

LIMITS = UploadLimits(max_bytes=32 << 20, max_pages=50, seconds=10.0)
# What a refusal may take beyond its budget: the child's kill and reaping, a loaded machine.
SLACK_SECONDS = 0.5
# The longest the ticking greenlet may wait, as tests/fuzz/test_routes.py's monitor allows: a
# read held on the event loop would take over a second; measured under gevent 10 to 30 ms, the
# scheduler's on a machine shared with busy neighbours.
MAX_GAP_SECONDS = 0.1


def refused(data: bytes, name: str, limits: UploadLimits = LIMITS) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        read_upload(data, name, limits)
    return caught.value


def many_pages_pdf(tmp_path: Path, pages: int) -> bytes:
    texts = [f"Page {n} of a long report" for n in range(pages)]
    return write_pdf(tmp_path / "long.pdf", texts).read_bytes()


def test_markdown_text_and_code_are_read_with_their_headings() -> None:
    markdown = read_upload("# 手順\n準備\n## 確認\n終わり\n".encode(), "Notes.MD", LIMITS)
    text = read_upload("議事録です。".encode("cp932"), "minutes.txt", LIMITS)
    code = read_upload(b"def f():\n    # not a heading\n    return 1\n", "tool.py", LIMITS)
    build = read_upload(b"FROM debian\nRUN true\n", "Dockerfile", LIMITS)

    assert markdown == ReadFile(
        "markdown", (Section("準備", ("手順",)), Section("終わり", ("手順", "確認"))), None, 5
    )
    assert text == ReadFile("text", (Section("議事録です。"),), None, 6)
    assert code.kind == "code"
    assert code.sections == (Section("def f():\n    # not a heading\n    return 1\n"),)
    assert build.kind == "code"


def test_html_loses_its_scripts_and_keeps_its_headings() -> None:
    page = (
        b"<h1>Guide</h1><p>Read &amp; agree</p><script>steal(document.cookie)</script>"
        b"<h2>More</h2><p>Last</p><style>p{}</style>"
    )

    read = read_upload(page, "page.htm", LIMITS)

    assert read.kind == "html"
    assert [s.heading for s in read.sections] == [("Guide",), ("Guide", "More")]
    assert "Read & agree" in read.sections[0].text
    text = " ".join(s.text for s in read.sections)
    assert "steal" not in text
    assert "p{}" not in text


def test_docx_headings_and_table(tmp_path: Path) -> None:
    data = write_docx(
        tmp_path / "d.docx", [("Heading 1", "規程"), ("", "第一条の本文。"), ("Heading 2", "附則")]
    ).read_bytes()

    read = read_upload(data, "rules.DOCX", LIMITS)

    assert read.kind == "docx"
    assert read.pages is None
    assert Section("第一条の本文。", ("規程",)) in read.sections
    assert any("名前 | 値" in s.text for s in read.sections)
    assert read.chars == sum(len(s.text) for s in read.sections)


def test_pdf_pages_are_counted_blank_ones_too(tmp_path: Path) -> None:
    data = write_pdf(tmp_path / "p.pdf", ["First page text", " ", "Third page text"])

    read = read_upload(data.read_bytes(), "p.pdf", LIMITS)

    assert read.kind == "pdf"
    assert read.pages == 3
    assert [(s.page, s.text.strip()) for s in read.sections] == [
        (1, "First page text"),
        (3, "Third page text"),
    ]


def test_a_scanned_pdf_is_told_from_a_file_without_text() -> None:
    assert refused(blank_pdf(2), "scan.pdf").reason == "no_text_layer"
    assert refused(b"<script>only()</script>", "a.html").reason == "no_text"
    assert refused(b"  \n", "empty.md").reason == "no_text"


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    assert refused(encrypted_pdf(tmp_path / "e.pdf", "secret"), "e.pdf").reason == "encrypted"


def test_pages_are_counted_before_any_text_is_read() -> None:
    error = refused(blank_pdf(LIMITS.max_pages + 1), "scan.pdf")  # a scan: no_text_layer if read

    assert error.reason == "too_many_pages"
    assert error.params == {"limit": LIMITS.max_pages, "pages": LIMITS.max_pages + 1}


def test_a_zip_bomb_docx_is_refused(tmp_path: Path) -> None:
    error = refused(write_zip_bomb(tmp_path / "bomb.docx", 64 << 20).read_bytes(), "b.docx")

    assert error.reason == "bomb"
    assert error.params["limit"] == 200


def test_size_and_kind_are_refused_before_any_process_starts() -> None:
    started = time.monotonic()
    large = refused(b"x" * 101, "a.txt", UploadLimits(max_bytes=100, max_pages=1, seconds=1))
    unknown = refused(b"\x89PNG", "photo.PNG")

    assert time.monotonic() - started < 0.02
    assert (large.reason, large.params) == (
        "too_large",
        {"limit": 100, "size": 101, "unit": "bytes"},
    )
    assert (unknown.reason, unknown.params) == ("unsupported", {"suffix": ".png"})


def test_text_past_the_character_limit_is_refused() -> None:
    limits = UploadLimits(max_bytes=1 << 20, max_pages=1, seconds=10, max_chars=1000)

    long = refused(b"x" * 1001, "a.txt", limits)
    # One long heading repeated over many short sections: counted each time it is repeated.
    repeated = refused(("# " + "h" * 500 + "\n" + "## a\nb\n" * 10).encode(), "a.md", limits)

    assert long.reason == "too_large"
    assert long.params == {"limit": 1000, "size": 1001, "unit": "chars"}
    assert repeated.reason == "too_large"
    assert repeated.params["size"] == 10 * (1 + 500 + 1)


@pytest.mark.parametrize("name", ["random.pdf", "random.docx"])
def test_random_bytes_are_unreadable(name: str) -> None:
    assert refused(bytes(range(256)) * 64, name).reason == "unreadable"


def test_deeply_nested_objects_are_refused_within_the_budget() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    data = pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Deep " + nested + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )
    limits = UploadLimits(max_bytes=1 << 20, max_pages=10, seconds=3)

    started = time.monotonic()
    assert refused(data, "deep.pdf", limits).reason == "unreadable"
    assert time.monotonic() - started < limits.seconds + SLACK_SECONDS


def test_a_page_tree_that_loops_is_refused() -> None:
    data = pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )

    assert refused(data, "loop.pdf").reason == "unreadable"


def test_a_form_that_draws_itself_ends_with_the_text_around_it() -> None:
    font = b"<< /Font << /F1 6 0 R >> /XObject << /X 4 0 R >> >>"
    data = pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R"
            b" /Resources " + font + b" >>",
            pdf_stream(
                b"/X Do", b"/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources " + font
            ),
            pdf_stream(b"BT /F1 12 Tf 72 720 Td (Around the loop) Tj ET /X Do"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )
    limits = UploadLimits(max_bytes=1 << 20, max_pages=10, seconds=3)

    started = time.monotonic()
    read = read_upload(data, "loop.pdf", limits)

    assert time.monotonic() - started < limits.seconds
    assert "Around the loop" in read.sections[0].text


def test_a_slow_read_is_stopped_at_its_deadline(tmp_path: Path) -> None:
    data = many_pages_pdf(tmp_path, 2000)  # about 2.5 s to read
    for seconds in (0.05, 0.6):
        limits = UploadLimits(max_bytes=1 << 20, max_pages=2000, seconds=seconds)

        started = time.monotonic()
        error = refused(data, "long.pdf", limits)

        assert time.monotonic() - started < seconds + SLACK_SECONDS
        assert (error.reason, error.params) == ("too_slow", {"seconds": f"{seconds:g}"})


def test_a_read_over_its_memory_cap_is_refused() -> None:
    limits = UploadLimits(max_bytes=32 << 20, max_pages=1, seconds=10, memory_bytes=40 << 20)

    error = refused(b"word " * 4_000_000, "a.txt", limits)

    assert (error.reason, error.params) == ("too_much_memory", {"limit": 40 << 20})


def test_a_read_that_finds_no_free_reader_is_refused_busy(tmp_path: Path) -> None:
    slow = many_pages_pdf(tmp_path, 2000)
    limits = UploadLimits(max_bytes=1 << 20, max_pages=2000, seconds=2, wait_seconds=0.1)
    outcomes: list[str] = []

    def read() -> None:
        try:
            read_upload(slow, "long.pdf", limits)
        except UploadRefused as exc:
            outcomes.append(exc.reason)

    readers = [threading.Thread(target=read) for _ in range(MAX_READERS)]
    for thread in readers:
        thread.start()
    time.sleep(0.3)  # both slots taken
    error = refused(b"text", "a.txt", limits)
    for thread in readers:
        thread.join()

    assert (error.reason, error.params) == ("busy", {"readers": MAX_READERS})
    assert outcomes == ["too_slow"] * MAX_READERS
    assert read_upload(b"text", "a.txt", limits).chars == 4  # the slots are free again


# Run under gevent's monkey patching, as gunicorn's worker runs: a greenlet ticks every 5 ms
# while others read slow PDFs; a third read finds no free reader. One read comes first: a
# worker's first child pays gevent's one-time set-up of its child watcher (25 ms measured).
UNDER_GEVENT = """
from gevent import monkey

monkey.patch_all()

import json
import sys
import time

import gevent

from coda.infrastructure.document_reader import UploadLimits, UploadRefused, read_upload

data = open(sys.argv[1], "rb").read()
limits = UploadLimits(max_bytes=1 << 20, max_pages=2000, seconds=1.5, wait_seconds=0.2)
gaps = []
running = True


def tick():
    last = time.monotonic()
    while running:
        gevent.sleep(0.005)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


def read(name):
    try:
        return read_upload(data, name, limits).pages
    except UploadRefused as exc:
        return exc.reason


read_upload(b"warm", "a.txt", limits)
ticker = gevent.spawn(tick)
readers = [gevent.spawn(read, "long.pdf") for _ in range(2)]
gevent.sleep(0.1)
third = gevent.spawn(read, "long.pdf")
outcomes = [g.get() for g in [*readers, third]]
running = False
ticker.join()
print(json.dumps({"outcomes": outcomes, "max_gap": max(gaps), "ticks": len(gaps)}))
"""


def test_under_gevent_other_greenlets_run_while_a_file_is_read(tmp_path: Path) -> None:
    many_pages_pdf(tmp_path, 2000)
    path = tmp_path / "long.pdf"

    done = subprocess.run(
        [sys.executable, "-c", UNDER_GEVENT, str(path)],
        cwd=CODE_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result = json.loads(done.stdout)

    assert result["outcomes"] == ["too_slow", "too_slow", "busy"]
    assert result["ticks"] > 100
    assert result["max_gap"] < MAX_GAP_SECONDS
