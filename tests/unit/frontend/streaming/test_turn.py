"""A streamed turn, event by event, with a stub model that behaves like the port."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.frontend.streaming.model_reader import AnswerReader
from coda.infrastructure.app import create_app
from coda.infrastructure.bootstrap import generation_options
from coda.llm import (
    EndedEarlyError,
    Message,
    ModelCannotLoadError,
    Role,
    StreamInterruptedError,
    UnavailableError,
)
from tests.support.client import post_turn
from tests.support.html import attr, bubbles, one, partials, text_partials
from tests.support.settings import WEB_SETTINGS
from tests.support.sse import Event, events
from tests.support.stub_model import USAGE, StubModel


def appended(event: Event) -> list[str]:
    """The text an event appends to the answer's body, as the browser will show it."""
    return [p.get_text() for p in text_partials(event.data)]


def streamed_text(received: list[Event]) -> str:
    return "".join(text for e in received for text in appended(e))


def final_bubble(event: Event) -> tuple[str, str]:
    """The bubble that replaces the streaming one whole: (its state, its HTML)."""
    (replacement,) = partials(event.data, "outerMorph")
    (answer,) = bubbles(str(replacement), "assistant")
    return attr(answer, "data-state"), str(answer)


def test_opening_event_appends_both_bubbles(client: FlaskClient) -> None:
    first = post_turn(client, "<i>質問</i>")[0]

    assert first.name is None
    (question,) = bubbles(first.data, "user")
    (answer,) = bubbles(first.data, "assistant")
    assert one(question, ".message-body").get_text() == "<i>質問</i>"
    assert one(question, ".message-body").find("i") is None
    assert attr(answer, "data-state") == "streaming"
    body = one(answer, ".message-body")
    assert attr(body, "aria-live") == "polite"
    assert body.has_attr("hx-ignore")


def test_text_with_html_and_newlines_streams_escaped_and_intact(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["<script>alert(1)</script>\n", "二行目\n\n", '"&amp;"']
    stub.delay = 0.05  # one event each: text that arrives together is sent together

    received = post_turn(client)

    assert streamed_text(received) == '<script>alert(1)</script>\n二行目\n\n"&amp;"'
    swapped = [e.data for e in received if e.name is None]  # `done` carries JSON, never swapped
    assert all("<script>" not in data for data in swapped)


def test_answer_ends_as_markdown_with_usage_then_done(client: FlaskClient, stub: StubModel) -> None:
    stub.texts = ["**太字**", "\n```python\nx = 1\n```"]

    *_, final, done = post_turn(client)

    state, answer = final_bubble(final)
    assert state == "done"
    assert one(answer, ".message-body strong").get_text() == "太字"
    assert one(answer, ".code-block button.copy-code")
    meta = one(answer, ".message-meta").get_text()
    assert "stub:1" in meta
    assert "12" in meta
    assert "42.5" in meta
    assert done.name == "done"
    assert json.loads(done.data)["content"] == "**太字**\n```python\nx = 1\n```"


def test_failure_mid_answer_keeps_the_partial_text_and_ends_with_error(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["途中まで"]
    stub.error = StreamInterruptedError("connection reset")

    *_, final, last = post_turn(client)

    state, answer = final_bubble(final)
    assert state == "error"
    assert one(answer, ".message-body").get_text().strip() == "途中まで"
    assert "回答の途中で接続が切れました" in one(answer, ".message-error").get_text()
    assert last.name == "error"
    assert json.loads(last.data)["content"] == "途中まで"


def test_failure_before_any_text_shows_its_own_message(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = []
    stub.error = UnavailableError("refused")

    *_, final, last = post_turn(client)

    state, answer = final_bubble(final)
    assert state == "error"
    assert "接続できません" in one(answer, ".message-error").get_text()
    assert last.name == "error"


def test_a_model_that_cannot_fit_says_so_and_the_log_keeps_the_servers_words(
    client: FlaskClient, stub: StubModel, caplog: pytest.LogCaptureFixture
) -> None:
    stub.texts = []
    detail = "ollama 500: model requires more system memory (7.5 GiB) than is available (5.2 GiB)"
    params = {"model": "stub:1", "reason": "memory", "needed": "7.5 GiB", "available": "5.2 GiB"}
    stub.error = ModelCannotLoadError(detail, params=params, upstream_status=500)

    with caplog.at_level("INFO", logger="coda.access"):
        *_, final, _ = post_turn(client)

    _, answer = final_bubble(final)
    said = one(answer, ".message-error").get_text()
    assert "stub:1" in said
    assert "7.5 GiB" in said
    assert "接続できません" not in said
    (line,) = [r for r in caplog.records if r.name == "coda.access"]
    assert vars(line)["error_kind"] == "model_cannot_load"
    assert vars(line)["error_detail"] == detail


def test_an_answer_the_server_ended_early_keeps_its_text_and_blames_no_connection(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["同じ", "同じ"]
    stub.error = EndedEarlyError("the server ended the stream without its final line")

    *_, final, _ = post_turn(client)

    _, answer = final_bubble(final)
    assert one(answer, ".message-body").get_text().strip() == "同じ同じ"
    said = one(answer, ".message-error").get_text()
    assert "打ち切りました" in said
    assert "接続が切れ、" not in said


def test_a_prompt_refused_for_its_length_is_asked_again_without_older_turns_and_says_so(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.max_messages = 4
    history = [{"role": ["user", "assistant"][i % 2], "content": f"turn {i}"} for i in range(6)]

    received = post_turn(client, "q", history)

    assert [len(prompt) for prompt in stub.received] == [8, 4]
    assert [m.content for m in stub.received[-1][1:-1]] == ["turn 4", "turn 5"]
    notice = next(e for e in received if partials(e.data, "beforebegin"))
    assert "4" in one(notice.data, "#left-out").get_text()
    assert received[-1].name == "done"
    assert json.loads(received[-1].data)["left_out"] == 4
    assert "rephrase" not in received[-1].data


def test_a_prompt_with_nothing_left_to_leave_out_says_it_is_too_long(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.max_messages = 1

    *_, final, last = post_turn(client, "q")

    _, answer = final_bubble(final)
    assert "コンテキスト" in one(answer, ".message-error").get_text()
    assert last.name == "error"
    assert len(stub.received) == 1


def test_a_bug_below_the_port_still_ends_with_a_message(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["a"]
    stub.error = ValueError("not an LLMError")  # type: ignore[assignment]

    *_, final, last = post_turn(client)

    state, answer = final_bubble(final)
    assert state == "error"
    assert "予期しないエラー" in one(answer, ".message-error").get_text()
    assert one(answer, ".message-body").get_text().strip() == "a"
    assert last.name == "error"


def test_empty_answer_is_never_a_blank_bubble(client: FlaskClient, stub: StubModel) -> None:
    stub.texts = []

    *_, final, done = post_turn(client)

    state, answer = final_bubble(final)
    assert state == "done"
    assert "空の回答" in one(answer, ".message-error").get_text()
    assert done.name == "done"


def test_silent_model_gets_a_loading_notice_then_heartbeats(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.first_delay = 1.2  # notice after 0.3 s, heartbeats every 0.5 s (conftest settings)
    # Text arriving with the end is sent as the final bubble alone (coalesced): keep the first
    # text apart from the end, or a busy machine takes both at once and no text is appended.
    stub.delay = 0.3

    received = post_turn(client)

    names = [e.name for e in received]
    notice = next(e for e in received if partials(e.data, "innerHTML", "-notice"))
    assert "モデルを読み込み中" in one(notice.data, ".message-notice").get_text()
    assert names.index(None, 1) == received.index(notice)
    assert "heartbeat" in names  # an event the page sees, not a comment
    first_text = next(e for e in received if appended(e))
    (cleared,) = partials(first_text.data, "innerHTML", "-notice")
    assert cleared.get_text() == ""


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
        post_turn(client)
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


def test_chunks_that_arrived_together_go_out_as_one_event(app: Flask, stub: StubModel) -> None:
    """A busy server sends what has queued up as one event; the text is the same."""
    stub.texts = ["一", "二", "三"]
    reader = AnswerReader(stub, [Message(Role.USER, "hi")], generation_options(WEB_SETTINGS))
    reader.start()
    assert stub.closed.wait(2), "the stub did not finish"

    items = reader.take(1.0)

    assert [getattr(item, "text", None) for item in items] == ["一", "二", "三", ""]


def test_a_draining_worker_ends_the_answer_with_a_restart_message_and_keeps_the_text(
    app: Flask, client: FlaskClient, stub: StubModel
) -> None:
    stub.texts = ["途中"] + ["まで"] * 100
    stub.delay = 0.05
    draining = app.extensions["coda"].draining
    response = client.post("/chat", data={"message": "hi"}, buffered=False)
    stream = events(response.response)
    next(e for e in stream if appended(e))

    started = time.monotonic()
    draining.begin()
    rest = list(stream)
    response.close()

    assert time.monotonic() - started < draining.grace_seconds + 1.5
    *_, final, last = rest
    state, answer = final_bubble(final)
    assert state == "error"
    assert "再起動" in one(answer, ".message-error").get_text()
    assert one(answer, ".message-body").get_text().startswith("途中")
    assert last.name == "error"
    assert json.loads(last.data)["content"].startswith("途中")
    assert stub.closed.wait(2), "the model was not cancelled"


def test_a_server_count_above_the_bound_is_logged_as_the_bound_failing(
    client: FlaskClient, stub: StubModel, caplog: pytest.LogCaptureFixture
) -> None:
    stub.usage = replace(USAGE, prompt_tokens=1_000_000)

    with caplog.at_level("INFO"):
        post_turn(client)

    (line,) = [r for r in caplog.records if r.name == "coda.access"]
    assert 0 < vars(line)["prompt_estimate"] < 1_000_000
    assert any("upper bound" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_server_count_within_the_bound_is_not_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        post_turn(client)

    assert not any("upper bound" in r.getMessage() for r in caplog.records)


def client_with(stub: StubModel, live_format_ms: int) -> FlaskClient:
    app = create_app(replace(WEB_SETTINGS, live_format_ms=live_format_ms), chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False
    return app.test_client()


ANSWER_PIECES = [
    "# 見出し\n\n**注意：**入力", "は必須です。\n\n- 一\n", "- 二\n\n```python\nx = 1\n",
    "```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n最後", "の段落。",
]  # fmt: skip


def test_a_formatted_answer_streams_its_blocks_once_and_adds_up_to_the_final_render(
    stub: StubModel,
) -> None:
    stub.texts = ANSWER_PIECES
    stub.delay = 0.05
    received = post_turn(client_with(stub, live_format_ms=1))  # a pace every batch outruns

    opening, *middle, final, done = received
    assert one(opening.data, ".message-body.live")
    assert one(opening.data, ".message-source").has_attr("hidden")
    blocks = [p for e in middle for p in partials(e.data, "beforebegin", "-last")]
    morphs = [p for e in middle for p in partials(e.data, "innerMorph", "-last")]
    assert streamed_text(received) == "".join(ANSWER_PIECES) == json.loads(done.data)["content"]
    tops = [tag.name for block in blocks for tag in block.find_all(recursive=False)]
    assert tops == ["h1", "p", "ul", "div"]  # the code: closed
    assert partials(middle[0].data, "innerMorph", "-last"), "the first text went out formatted"
    assert not any(p.find("hx-partial") for p in blocks + morphs)
    _state, html = final_bubble(final)
    final_body = "".join(str(node) for node in one(html, ".message-body").contents)
    streamed = "".join(p.decode_contents() for p in blocks) + morphs[-1].decode_contents()
    assert streamed.replace("\n", "") in final_body.replace("\n", "")


def test_at_a_slow_pace_the_first_text_goes_out_at_once_and_the_rest_waits(
    stub: StubModel,
) -> None:
    stub.texts = ["一つ目の", "段落", "です。"]
    stub.delay = 0.05
    received = post_turn(client_with(stub, live_format_ms=5000))

    names = [(e.name, bool(text_partials(e.data))) for e in received]
    assert names == [(None, False), (None, True), (None, False), ("done", False)]
    assert appended(received[1]) == ["一つ目の"]


def test_with_live_formatting_off_the_text_streams_raw_into_the_body(stub: StubModel) -> None:
    stub.texts = ["**太字**", "のまま"]
    stub.delay = 0.05
    received = post_turn(client_with(stub, live_format_ms=0))

    assert not partials(received[0].data, target_suffix="-source")
    assert streamed_text(received) == "**太字**のまま"
    assert not any(partials(e.data, "innerMorph") for e in received)
