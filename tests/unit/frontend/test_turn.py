"""A streamed turn, event by event, with a stub model that behaves like the port."""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.llm import StreamInterruptedError, UnavailableError
from tests.support.sse import Event, events
from tests.support.stub_model import StubModel

APPENDED = re.compile(
    r'<hx-partial hx-target="#turn-[0-9a-f]+-body" hx-swap="beforeend">(.*?)</hx-partial>', re.S
)


def turn(client: FlaskClient, message: str = "hi") -> list[Event]:
    response = client.post("/chat", data={"message": message}, buffered=False)
    try:
        return list(events(response.response))
    finally:
        response.close()


def streamed_text(received: list[Event]) -> str:
    return "".join(html.unescape(m) for e in received for m in APPENDED.findall(e.data))


def test_opening_event_appends_both_bubbles(client: FlaskClient) -> None:
    first = turn(client, "<i>質問</i>")[0]

    assert first.name is None
    assert 'data-role="user"' in first.data
    assert "&lt;i&gt;質問&lt;/i&gt;" in first.data
    assert 'data-role="assistant" data-state="streaming"' in first.data
    assert 'aria-live="polite"' in first.data
    assert "hx-ignore" in first.data


def test_text_with_html_and_newlines_streams_escaped_and_intact(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["<script>alert(1)</script>\n", "二行目\n\n", '"&amp;"']

    received = turn(client)

    assert streamed_text(received) == '<script>alert(1)</script>\n二行目\n\n"&amp;"'
    swapped = [e.data for e in received if e.name is None]  # `done` carries JSON, never swapped
    assert all("<script>" not in data for data in swapped)


def test_answer_ends_as_markdown_with_usage_then_done(client: FlaskClient, stub: StubModel) -> None:
    stub.texts = ["**太字**", "\n```python\nx = 1\n```"]

    *_, final, done = turn(client)

    assert 'hx-swap="outerHTML"' in final.data
    assert 'data-state="done"' in final.data
    assert "<strong>太字</strong>" in final.data
    assert 'class="copy-code"' in final.data
    assert 'class="message-meta"' in final.data
    assert "stub:1" in final.data
    assert "12" in final.data
    assert "42.5" in final.data
    assert done.name == "done"
    assert json.loads(done.data)["content"] == "**太字**\n```python\nx = 1\n```"


def test_failure_mid_answer_keeps_the_partial_text_and_ends_with_error(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["途中まで"]
    stub.error = StreamInterruptedError("connection reset")

    *_, final, last = turn(client)

    assert 'data-state="error"' in final.data
    assert "途中まで" in final.data
    assert 'class="message-error"' in final.data
    assert "回答の途中で接続が切れました" in final.data
    assert last.name == "error"
    assert json.loads(last.data)["content"] == "途中まで"


def test_failure_before_any_text_shows_its_own_message(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = []
    stub.error = UnavailableError("refused")

    *_, final, last = turn(client)

    assert "接続できません" in final.data
    assert last.name == "error"


def test_a_bug_below_the_port_still_ends_with_a_message(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["a"]
    stub.error = ValueError("not an LLMError")  # type: ignore[assignment]

    *_, final, last = turn(client)

    assert 'class="message-error"' in final.data
    assert last.name == "error"


def test_empty_answer_is_never_a_blank_bubble(client: FlaskClient, stub: StubModel) -> None:
    stub.texts = []

    *_, final, done = turn(client)

    assert "空の回答" in final.data
    assert done.name == "done"


def test_silent_model_gets_a_loading_notice_then_heartbeats(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.first_delay = 1.2  # notice after 0.3 s, heartbeats every 0.5 s (conftest settings)

    received = turn(client)

    names = [e.name for e in received]
    notice = next(e for e in received if 'class="message-notice"' in e.data)
    assert "モデルを読み込み中" in notice.data
    assert names.index(None, 1) == received.index(notice)
    assert ":" in names
    first_text = next(e for e in received if APPENDED.search(e.data))
    assert '-notice" hx-swap="innerHTML"></hx-partial>' in first_text.data


def test_closing_the_stream_closes_the_model_generator(
    app: Flask, client: FlaskClient, stub: StubModel, caplog: pytest.LogCaptureFixture
) -> None:
    stub.texts = ["x"] * 200
    stub.delay = 0.01
    response = client.post("/chat", data={"message": "hi"}, buffered=False)
    stream = events(response.response)
    next(stream)
    next(stream)

    with caplog.at_level("INFO", logger="coda.access"):
        response.close()

    assert stub.closed.wait(2), "the upstream generator was not closed"
    (line,) = [r for r in caplog.records if r.name == "coda.access"]
    assert line.outcome == "stopped"  # type: ignore[attr-defined]


def test_access_log_line_describes_the_answer(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="coda.access"):
        turn(client)
        time.sleep(0)

    (line,) = [r for r in caplog.records if r.name == "coda.access"]
    fields = vars(line)
    assert fields["route"] == "/chat"
    assert fields["status"] == 200
    assert fields["outcome"] == "done"
    assert fields["model"] == "stub:1"
    assert fields["prompt_tokens"] == 12
    assert fields["completion_tokens"] == 3
    assert fields["first_token_ms"] >= 0
    assert fields["latency_ms"] >= fields["first_token_ms"]
    assert fields["request_id"]
