"""Reading what the app logs: create_app replaces the root handlers, so caplog sees nothing of it;
a handler on the logger itself does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class Lines(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records logged to `name` while the block runs."""
    lines = Lines()
    logger = logging.getLogger(name)
    logger.addHandler(lines)
    try:
        yield lines.records
    finally:
        logger.removeHandler(lines)
