"""Reading a streamed response the way htmx's SSE extension does: frames into (event, data)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    name: str | None  # None: an unnamed message, which htmx swaps; a comment is name ":"
    data: str


def events(chunks: Iterable[bytes] | Iterable[str]) -> Iterator[Event]:
    """Parse SSE frames as they arrive; comments come out as `Event(":", text)`."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            name: str | None = None
            data: list[str] = []
            for line in re.split(r"\r\n|\r|\n", frame):
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "":
                    name = ":"
                    data.append(value)
                elif field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
            yield Event(name, "\n".join(data))
