"""SSE framing: whatever the text holds, the browser's parser gets back exactly that text."""

from __future__ import annotations

import re

from coda.frontend.streaming.sse import HEARTBEAT, event, heartbeat


def parse(frame: bytes) -> tuple[str | None, str]:
    """What a browser's EventSource parser makes of one frame: `data` lines joined by \\n."""
    name, data = None, []
    text = frame.decode()
    assert text.endswith("\n\n")
    for line in re.split(r"\r\n|\r|\n", text[:-2]):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return name, "\n".join(data)


def test_text_with_newlines_survives_the_framing() -> None:
    text = "一行目\n二行目\r\n三行目\rend\n"

    name, data = parse(event(text))

    assert name is None
    assert data == "一行目\n二行目\n三行目\nend\n"


def test_html_passes_through_untouched_and_no_line_breaks_the_frame() -> None:
    html = '<p class="x">a</p>\n\n<p>data: not a field</p>'

    frame = event(html, "done")

    assert parse(frame) == ("done", html)
    assert frame.count(b"\n\n") == 1


def test_unicode_line_separators_are_not_split() -> None:
    assert parse(event("a\u2028b"))[1] == "a\u2028b"


def test_a_heartbeat_is_an_event_the_page_sees_with_no_text() -> None:
    # A named event with an empty data line: the page's SSE reader dispatches it (a comment it
    # drops), and the SSE standard's own parser does too.
    assert heartbeat() == b"event: heartbeat\ndata: \n\n"
    assert parse(heartbeat()) == (HEARTBEAT, "")
