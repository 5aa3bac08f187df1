"""A turn over a limit: a message in the bubble, 429 with Retry-After, the user's text kept, and
the model asked nothing. A turn that started gives its place back however it ends."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.frontend.admission import wait_text
from coda.infrastructure.app import create_app
from coda.llm import UnavailableError
from tests.support.client import post_turn
from tests.support.html import bubbles, one
from tests.support.settings import WEB_SETTINGS
from tests.support.sse import events
from tests.support.stub_model import StubModel


def limited(stub: StubModel, **limits: Any) -> Flask:
    app = create_app(replace(WEB_SETTINGS, **limits), chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def post(client: FlaskClient, message: str = "もう一つ", **headers: str) -> Any:
    return client.post("/chat", data={"message": message}, headers=headers)


def test_over_the_limit_is_a_429_bubble_that_keeps_the_text_and_asks_nothing(
    stub: StubModel, access_log: list[logging.LogRecord]
) -> None:
    client = limited(stub, answers_per_minute=1).test_client()
    post_turn(client, "一つ目")

    response = post(client, "二つ目")
    html = response.get_data(as_text=True)
    response.close()

    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    (question,) = bubbles(html, "user")
    assert one(question, ".message-body").get_text() == "二つ目"
    (answer,) = bubbles(html, "assistant")
    error = one(answer, ".message-error").get_text()
    assert "1 分間" in error
    assert wait_text(int(response.headers["Retry-After"]), "ja") in error
    assert len(stub.received) == 1  # the first turn only
    line = access_log[-1]
    assert (getattr(line, "outcome", None), getattr(line, "error_kind", None)) == (
        "refused",
        "answers_per_minute",
    )


def test_the_message_speaks_the_page_language(stub: StubModel) -> None:
    client = limited(stub, answers_per_day=1).test_client()
    post_turn(client)

    response = post(client, **{"Accept-Language": "en"})
    error = one(bubbles(response.get_data(as_text=True), "assistant")[0], ".message-error")

    assert "today's limit of 1 answers" in error.get_text()
    assert " h" in error.get_text()


@pytest.mark.parametrize(
    ("seconds", "ja", "en"),
    [(1, "1 秒", "1 s"), (59, "59 秒", "59 s"), (61, "2 分", "2 min"), (7200, "2 時間", "2 h"),
     (3 * 3600 + 20 * 60, "3 時間 20 分", "3 h 20 min")],
)  # fmt: skip
def test_waits_read_as_people_say_them(seconds: int, ja: str, en: str) -> None:
    assert (wait_text(seconds, "ja"), wait_text(seconds, "en")) == (ja, en)


def test_a_finished_answer_gives_its_stream_back(stub: StubModel) -> None:
    client = limited(stub, streams_per_user=1).test_client()

    for _ in range(3):
        assert post_turn(client)[-1].name == "done"


def test_a_stopped_answer_gives_its_stream_back(stub: StubModel) -> None:
    stub.texts = ["a"] * 50
    stub.delay = 0.05
    client = limited(stub, streams_per_user=1).test_client()
    streaming = client.post("/chat", data={"message": "long"}, buffered=False)
    next(events(streaming.response))

    refused = post(client)
    refused.close()
    streaming.close()  # what Stop does to the connection

    assert refused.status_code == 429
    assert post_turn(client)[-1].name == "done"


def test_a_failed_answer_gives_its_stream_back(stub: StubModel) -> None:
    stub.error = UnavailableError("down")
    client = limited(stub, streams_per_user=1).test_client()

    assert post_turn(client)[-1].name == "error"
    assert post_turn(client)[-1].name == "error"  # admitted again, not refused
    assert len(stub.received) == 2


def test_an_answer_ended_by_the_shutdown_drain_gives_its_stream_back(stub: StubModel) -> None:
    stub.first_delay = 3.0
    app = limited(stub, streams_per_instance=1)
    client = app.test_client()
    streaming = client.post("/chat", data={"message": "slow"}, buffered=False)
    received = events(streaming.response)
    next(received)

    app.extensions["coda"].draining.begin()
    last = list(received)[-1]
    streaming.close()
    stub.first_delay = 0.0
    app.extensions["coda"].draining.deadline = None  # a new worker, as it were

    assert last.name == "error"
    assert post_turn(client)[-1].name == "done"


def test_the_tokens_the_server_reports_are_booked_against_the_day(stub: StubModel) -> None:
    client = limited(stub, tokens_per_day=20).test_client()  # the stub reports 12 + 3 tokens

    post_turn(client)
    post_turn(client)  # 15 of 20 used: admitted, and it takes the day past its budget
    response = post(client)
    response.close()

    assert response.status_code == 429
    assert len(stub.received) == 2
