"""Log lines: JSON that Cloud Logging reads as is, or text that keeps the extra fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from coda.infrastructure.logging import configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_severity_message_time_and_our_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")

    logging.getLogger("coda.test").warning(
        "chat done", extra={"request_id": "r1", "completion_tokens": 12, "outcome": "done"}
    )

    record = json.loads(capsys.readouterr().out.strip())
    assert record["severity"] == "WARNING"
    assert record["message"] == "chat done"
    assert record["time"].startswith("20")
    assert record["logger"] == "coda.test"
    assert (record["request_id"], record["completion_tokens"], record["outcome"]) == (
        "r1",
        12,
        "done",
    )


@pytest.mark.usefixtures("restore_root_logger")
def test_json_keeps_japanese_readable(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")

    logging.getLogger("coda.test").info("こんにちは")

    assert "こんにちは" in capsys.readouterr().out


@pytest.mark.usefixtures("restore_root_logger")
def test_text_format_shows_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "text")

    logging.getLogger("coda.test").info("retrying", extra={"attempt": 2})

    line = capsys.readouterr().out.strip()
    assert "INFO" in line
    assert "coda.test: retrying" in line
    assert line.endswith("attempt=2")


@pytest.mark.usefixtures("restore_root_logger")
def test_level_filters_lower_severities(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("ERROR", "json")

    logging.getLogger("coda.test").warning("hidden")

    assert capsys.readouterr().out == ""
