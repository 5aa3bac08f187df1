"""The chat page against a real `ollama serve` running the real test model."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from tests.support.client import post_turn
from tests.support.factories import AppFactory
from tests.support.html import attr, bubbles, one, text_partials
from tests.support.ollama_server import OllamaServer
from tests.support.sse import Event, events

pytestmark = pytest.mark.integration


def test_a_turn_streams_text_then_the_rendered_answer_with_usage(
    ollama_server: OllamaServer, make_app: AppFactory, access_log: list[logging.LogRecord]
) -> None:
    client = make_app(ollama_server.host).test_client()

    received = post_turn(client, "日本の首都はどこですか？")

    opening, *middle, final, done = received
    (streaming,) = bubbles(opening.data, "assistant")
    assert attr(streaming, "data-state") == "streaming"
    assert any(text_partials(e.data) for e in middle), "no text was streamed"
    (answer,) = bubbles(final.data, "assistant")
    assert attr(answer, "data-state") == "done"
    assert "coda-test:270m" in one(answer, ".message-meta").get_text()
    assert done.name == "done"
    assert json.loads(done.data)["content"].strip()
    (line,) = access_log
    assert line.outcome == "done"  # type: ignore[attr-defined]
    assert line.completion_tokens > 0  # type: ignore[attr-defined]
    assert line.first_token_ms > 0  # type: ignore[attr-defined]


def test_a_turn_over_the_openai_api_names_the_model_and_says_who_measured_the_speed(
    ollama_server: OllamaServer, make_app: AppFactory
) -> None:
    client = make_app(ollama_server.host, provider="openai").test_client()

    *_, final, done = post_turn(client, "日本の首都はどこですか？")

    assert done.name == "done"
    (answer,) = bubbles(final.data, "assistant")
    meta = one(answer, ".message-meta").get_text()
    assert meta.startswith("coda-test:270m · ")
    assert "トークン/秒（coda 計測）" in meta


def test_history_sent_back_reaches_the_model(
    ollama_server: OllamaServer, make_app: AppFactory, access_log: list[logging.LogRecord]
) -> None:
    client = make_app(ollama_server.host).test_client()
    question = "好きな色は何ですか？"
    first = json.loads(post_turn(client, question)[-1].data)["content"]
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": first}]
    second = post_turn(client, "なぜですか？", history)

    assert second[-1].name == "done"
    prompt_tokens = [r.prompt_tokens for r in access_log]  # type: ignore[attr-defined]
    assert prompt_tokens[1] > prompt_tokens[0], "the earlier turn did not reach the model"


def test_stop_cancels_generation_upstream(
    ollama_server: OllamaServer, make_app: AppFactory
) -> None:
    """With one parallel slot in Ollama, a second answer can only start once the first stopped."""
    client = make_app(ollama_server.host, max_tokens=4000).test_client()
    response = client.post(
        "/chat", data={"message": "Count from 1 to 1000, one number per line."}, buffered=False
    )
    stream = events(response.response)
    next(e for e in stream if text_partials(e.data))

    response.close()  # what the browser's Stop does to the connection

    finished = threading.Event()
    result: list[Event] = []

    def ask() -> None:
        short = make_app(ollama_server.host, max_tokens=8).test_client()
        result.extend(post_turn(short, "こんにちは"))
        finished.set()

    threading.Thread(target=ask, daemon=True).start()
    # 4000 tokens would take minutes on these CPUs; a cancelled generation frees the slot at once.
    assert finished.wait(timeout=60), "the second answer waited for the stopped one"
    assert result[-1].name == "done"


def test_missing_model_ends_with_a_message_naming_it(
    ollama_server: OllamaServer, make_app: AppFactory
) -> None:
    client = make_app(ollama_server.host, model="no-such-model:latest").test_client()

    *_, final, last = post_turn(client, "hi")

    assert last.name == "error"
    (answer,) = bubbles(final.data, "assistant")
    assert "no-such-model:latest" in one(answer, ".message-error").get_text()


def test_ollama_down_ends_with_an_unavailable_message_in_time(
    spare_ollama: OllamaServer, make_app: AppFactory
) -> None:
    client = make_app(spare_ollama.host, retry_max_seconds=2.0).test_client()
    spare_ollama.stop()

    started = time.monotonic()
    *_, final, last = post_turn(client, "hi")

    assert last.name == "error"
    (answer,) = bubbles(final.data, "assistant")
    assert "接続できません" in one(answer, ".message-error").get_text()
    assert time.monotonic() - started < 10


def test_readiness_reflects_the_real_server(
    ollama_server: OllamaServer, make_app: AppFactory
) -> None:
    ready = make_app(ollama_server.host).test_client().get("/readyz")
    missing = (
        make_app(ollama_server.host, model="no-such-model:latest").test_client().get("/readyz")
    )

    assert ready.status_code == 200
    assert ready.get_json()["ready"] is True
    assert missing.status_code == 503
    assert missing.get_json()["model_present"] is False


@pytest.mark.parametrize("provider", ["ollama", "openai"])
def test_readiness_reports_each_allowed_model_on_the_real_server(
    ollama_server: OllamaServer, second_model: str, make_app: AppFactory, provider: str
) -> None:
    allowed = ("coda-test:270m", second_model, "no-such-model:latest")
    client = make_app(ollama_server.host, provider=provider, models=allowed).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["server_reachable"] is True
    assert body["models"] == {
        "coda-test:270m": True,
        second_model: True,
        "no-such-model:latest": False,
    }


def test_the_chosen_model_is_the_one_the_real_server_answers_with(
    ollama_server: OllamaServer, second_model: str, make_app: AppFactory
) -> None:
    app = make_app(ollama_server.host, models=("coda-test:270m", second_model))

    *_, final, done = post_turn(app.test_client(), "日本の首都は？", model=second_model)

    assert done.name == "done"
    (answer,) = bubbles(final.data, "assistant")
    assert one(answer, ".message-meta").get_text().startswith(f"{second_model} · ")
