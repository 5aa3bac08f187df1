"""The chat page against a real `ollama serve` running the real test model."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.infrastructure.app import create_app
from coda.llm.ollama import OllamaChatModel
from tests.support.ollama_server import OllamaServer
from tests.support.settings import make_settings
from tests.support.sse import Event, events

pytestmark = pytest.mark.integration


MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Apps over the real adapter; their connection pools are closed at the end."""
    models: list[OllamaChatModel] = []

    def make(host: str, **overrides: Any) -> Flask:
        app = create_app(make_settings(host, secret_key="k", **overrides))
        app.config["WTF_CSRF_ENABLED"] = False
        model = app.extensions["coda"].chat_model
        assert isinstance(model, OllamaChatModel)
        models.append(model)
        return app

    yield make
    for model in models:
        model.close()


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """The access log lines (create_app resets the root handlers, so caplog cannot see them)."""
    lines = Lines()
    logger = logging.getLogger("coda.access")
    logger.addHandler(lines)
    try:
        yield lines.records
    finally:
        logger.removeHandler(lines)


def turn(
    client: FlaskClient, message: str, history: list[dict[str, str]] | None = None
) -> list[Event]:
    data = {"message": message, "history": json.dumps(history or [])}
    response = client.post("/chat", data=data, buffered=False)
    try:
        assert response.status_code == 200
        return list(events(response.response))
    finally:
        response.close()


def test_a_turn_streams_text_then_the_rendered_answer_with_usage(
    ollama_server: OllamaServer, make_app: MakeApp, access_log: list[logging.LogRecord]
) -> None:
    client = make_app(ollama_server.host).test_client()

    received = turn(client, "日本の首都はどこですか？")

    opening, *middle, final, done = received
    assert 'data-state="streaming"' in opening.data
    assert any('hx-swap="beforeend"' in e.data for e in middle), "no text was streamed"
    assert 'data-state="done"' in final.data
    assert 'class="message-meta"' in final.data
    assert "coda-test:270m" in final.data
    assert done.name == "done"
    assert json.loads(done.data)["content"].strip()
    (line,) = access_log
    assert line.outcome == "done"  # type: ignore[attr-defined]
    assert line.completion_tokens > 0  # type: ignore[attr-defined]
    assert line.first_token_ms > 0  # type: ignore[attr-defined]


def test_history_sent_back_reaches_the_model(
    ollama_server: OllamaServer, make_app: MakeApp, access_log: list[logging.LogRecord]
) -> None:
    client = make_app(ollama_server.host).test_client()
    question = "好きな色は何ですか？"
    first = json.loads(turn(client, question)[-1].data)["content"]
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": first}]
    second = turn(client, "なぜですか？", history)

    assert second[-1].name == "done"
    prompt_tokens = [r.prompt_tokens for r in access_log]  # type: ignore[attr-defined]
    assert prompt_tokens[1] > prompt_tokens[0], "the earlier turn did not reach the model"


def test_stop_cancels_generation_upstream(ollama_server: OllamaServer, make_app: MakeApp) -> None:
    """With one parallel slot in Ollama, a second answer can only start once the first stopped."""
    client = make_app(ollama_server.host, max_tokens=4000).test_client()
    response = client.post(
        "/chat", data={"message": "Count from 1 to 1000, one number per line."}, buffered=False
    )
    stream = events(response.response)
    next(e for e in stream if 'hx-swap="beforeend"' in e.data)

    response.close()  # what the browser's Stop does to the connection

    finished = threading.Event()
    result: list[Event] = []

    def ask() -> None:
        short = make_app(ollama_server.host, max_tokens=8).test_client()
        result.extend(turn(short, "こんにちは"))
        finished.set()

    threading.Thread(target=ask, daemon=True).start()
    # 4000 tokens would take minutes on these CPUs; a cancelled generation frees the slot at once.
    assert finished.wait(timeout=60), "the second answer waited for the stopped one"
    assert result[-1].name == "done"


def test_missing_model_ends_with_a_message_naming_it(
    ollama_server: OllamaServer, make_app: MakeApp
) -> None:
    client = make_app(ollama_server.host, model="no-such-model:latest").test_client()

    *_, final, last = turn(client, "hi")

    assert last.name == "error"
    assert "no-such-model:latest" in final.data
    assert 'class="message-error"' in final.data


def test_ollama_down_ends_with_an_unavailable_message_in_time(
    spare_ollama: OllamaServer, make_app: MakeApp
) -> None:
    client = make_app(spare_ollama.host, retry_max_seconds=2.0).test_client()
    spare_ollama.stop()

    started = time.monotonic()
    *_, final, last = turn(client, "hi")

    assert last.name == "error"
    assert "接続できません" in final.data
    assert time.monotonic() - started < 10


def test_readiness_reflects_the_real_server(ollama_server: OllamaServer, make_app: MakeApp) -> None:
    ready = make_app(ollama_server.host).test_client().get("/readyz")
    missing = (
        make_app(ollama_server.host, model="no-such-model:latest").test_client().get("/readyz")
    )

    assert ready.status_code == 200
    assert ready.get_json()["ready"] is True
    assert missing.status_code == 503
    assert missing.get_json()["model_present"] is False
