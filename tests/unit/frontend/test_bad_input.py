"""Malformed and hostile input, one class each, as an outside test found them: every one gets our
4xx with a message (or is normalised and served), never a 500, and nothing invalid reaches the
model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from coda.frontend.i18n import LANG_COOKIE
from coda.infrastructure.app import create_app
from coda.llm import LLMTimeoutError
from tests.support.client import post_turn
from tests.support.html import bubbles, one
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel

DEEP = "[" * 5000 + "]" * 5000
SURROGATE = "\ud800"


def refusal(client: FlaskClient, route: str, data: dict[str, str]) -> tuple[int, str]:
    """The status and the error message of a refused post."""
    response = client.post(route, data=data)
    html = response.get_data(as_text=True)
    assert "Traceback" not in html
    (answer,) = bubbles(html, "assistant")
    return response.status_code, one(answer, ".message-error").get_text()


@pytest.mark.parametrize("route", ["/chat", "/conversation"])
def test_deeply_nested_history_is_refused_with_a_message(stub: StubModel, route: str) -> None:
    app = create_app(replace(WEB_SETTINGS, max_body_bytes=1 << 20), chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False

    status, message = refusal(app.test_client(), route, {"message": "hi", "history": DEEP})

    assert status == 422
    assert message
    assert stub.received == []


@pytest.mark.parametrize(
    "item",
    [
        {"role": ["user"], "content": "x"},
        {"role": {"user": 1}, "content": "x"},
        {"role": "user", "content": ["x"]},
    ],
)
def test_a_role_that_is_not_text_is_refused(
    client: FlaskClient, stub: StubModel, item: dict[str, object]
) -> None:
    status, message = refusal(client, "/chat", {"message": "hi", "history": json.dumps([item])})

    assert status == 422
    assert "履歴" in message
    assert stub.received == []


@pytest.mark.parametrize("state", [["done"], {"x": 1}, 3])
def test_a_saved_state_that_is_not_text_is_refused(client: FlaskClient, state: object) -> None:
    saved = [{"role": "user", "content": "q", "state": state}]

    status, message = refusal(client, "/conversation", {"history": json.dumps(saved)})

    assert status == 422
    assert message


def test_lone_surrogates_in_a_restored_conversation_are_shown_as_replacement_characters(
    client: FlaskClient,
) -> None:
    saved = [{"role": "user", "content": f"a{SURROGATE}b", "state": "done"}]

    response = client.post("/conversation", data={"history": json.dumps(saved)})

    assert response.status_code == 200
    (question,) = bubbles(response.get_data(as_text=True), "user")
    assert one(question, ".message-body").get_text() == "a\ufffdb"


def test_lone_surrogates_in_history_reach_the_model_as_replacement_characters(
    client: FlaskClient, stub: StubModel
) -> None:
    history = [
        {"role": "user", "content": f"前{SURROGATE}"},
        {"role": "assistant", "content": f"{SURROGATE}答"},
    ]

    received = post_turn(client, "次", history)

    assert received[-1].name == "done"
    (prompt,) = stub.received
    assert [m.content for m in prompt[1:]] == ["前\ufffd", "\ufffd答", "次"]


def test_the_too_large_message_says_to_shorten_the_message_not_to_start_over(
    client: FlaskClient,
) -> None:
    client.set_cookie(LANG_COOKIE, "en")

    status, message = refusal(client, "/chat", {"message": "あ" * 5000})

    assert status == 413
    assert "shorten" in message
    assert "New chat" not in message


def test_a_too_long_message_is_not_echoed_back(client: FlaskClient) -> None:
    response = client.post("/chat", data={"message": "x" * 51})

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "x" * 51 not in html
    assert bubbles(html, "user") == []


def test_a_silent_model_server_is_not_blamed_on_the_question(
    client: FlaskClient, stub: StubModel
) -> None:
    client.set_cookie(LANG_COOKIE, "en")
    stub.texts = []
    stub.error = LLMTimeoutError("no data within the read timeout")

    *_, last = post_turn(client)

    message = json.loads(last.data)["message"]
    assert last.name == "error"
    assert "shorter" not in message
    assert "did not answer" in message


def test_a_timeout_after_some_text_keeps_it_and_says_the_answer_was_cut(
    client: FlaskClient, stub: StubModel
) -> None:
    client.set_cookie(LANG_COOKIE, "en")
    stub.texts = ["part"]
    stub.error = LLMTimeoutError("the answer took longer than 300s")

    *_, last = post_turn(client)

    data = json.loads(last.data)
    assert data["content"] == "part"
    assert "took too long" in data["message"]
