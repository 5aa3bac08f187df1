"""Server-Sent Events framing: one event per call, ready to write and flush as is."""

from __future__ import annotations

import re

# The SSE grammar's line breaks; str.splitlines() would also split on U+2028 and friends, which
# the browser does not, and would change the text it joins back together.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def event(data: str, name: str | None = None) -> bytes:
    """An event whose `data` survives any newlines: one `data:` line per line, joined by `\\n`."""
    lines = [f"event: {name}"] if name else []
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


HEARTBEAT = "heartbeat"


def heartbeat() -> bytes:
    """A named event with empty data, written while the model is silent: like a comment it is a
    write that notices a client gone, and unlike one it reaches the page's script, whose watchdog
    tells a quiet stream from a dead one by it (a comment never leaves the browser's parser)."""
    return event("", HEARTBEAT)
