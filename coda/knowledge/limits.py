"""How much one document may cost the indexer, in bytes and in seconds: a hostile or broken file
(a zip bomb posing as DOCX, a PDF of a million pages, one whose content streams loop) is named
and skipped, never allowed to hang the command or fill its memory."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

MIB = 1 << 20


@dataclass(frozen=True, kw_only=True)
class ReadLimits:
    """`max_file_bytes` on disk; `max_unpacked_bytes` a DOCX's parts, uncompressed, as its zip
    declares them (`zipfile` never reads past a member's declared size), and `max_ratio` their
    compression (text XML packs about 10 to 1; bombs a thousand to 1); `max_pages` of a PDF;
    `max_chars` of text from one file; `seconds` to read one file, all steps together."""

    max_file_bytes: int = 64 * MIB
    max_unpacked_bytes: int = 256 * MIB
    max_ratio: int = 200
    max_pages: int = 2000
    max_chars: int = 20_000_000
    seconds: float = 60.0


class UnreadableError(Exception):
    """A file the indexer skips, with the reason it names to the operator (the message).

    `code` names the kind of failure for a program (an upload's refusal reason): "too_large",
    "unsupported", "too_many_pages", "encrypted", "bomb", "too_slow", "too_much_memory" or
    "unreadable" (a broken file); `params` the figures a message to a person may quote, e.g.
    `{"limit": 2000, "pages": 2001}`."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "unreadable",
        params: dict[str, int | str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.params = params or {}


class _OutOfTime(BaseException):
    """The timer's exception: a BaseException, because pypdf catches `Exception` while parsing and
    goes on (seen: a 2,000-page PDF read to its end past a 0.3 s limit)."""


# How often the timer rings again once the time is up, should a library swallow even that.
RETRY_SECONDS = 0.01


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `UnreadableError` (code "too_slow") in the block once `seconds` have passed
    (SIGALRM's timer, so the main thread only; elsewhere the block runs unbounded, bounded by size
    alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, RETRY_SECONDS)
    try:
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:  # also when it rang as the block ended, before the timer was stopped
        raise UnreadableError(
            f"reading took longer than {seconds:g} s",
            code="too_slow",
            params={"seconds": f"{seconds:g}"},
        ) from None
    finally:
        signal.signal(signal.SIGALRM, previous)
