"""Log set-up: one JSON object per line on stdout for Cloud Logging, or readable text locally."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# Attributes every LogRecord has; anything else on a record came from `extra=` and is ours.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class CloudJsonFormatter(JsonFormatter):
    """JSON with the field names Cloud Logging reads: `severity`, `message`, `time`."""

    def __init__(self) -> None:
        super().__init__(
            "{message}{levelname}{name}",
            style="{",
            rename_fields={"levelname": "severity", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # Cloud Logging calls it WARNING too, but CRITICAL must stay as is; map Python's names.
        if log_data.get("severity") == "WARN":
            log_data["severity"] = "WARNING"


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`: the extra fields stay visible when reading."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def configure_logging(level: str, fmt: str) -> None:
    """Replace the root handlers with one stdout handler in the chosen format; idempotent."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudJsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; one line per chat turn is ours to write.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
