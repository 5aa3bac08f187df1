"""Two instances of coda under gunicorn, as production runs them, counting in one real Redis: a
user's limits hold across both, and an answer cut by one instance's shutdown gives its place back
to the other at once."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.support.html import text_partials
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer
from tests.support.redis_server import RedisServer
from tests.support.sse import events

pytestmark = pytest.mark.integration

AppFactory = Callable[..., LiveApp]
COUNTING = "1から1000まで、数字を一行ずつ書いてください。"


def chat_posts(ollama: OllamaServer) -> int:
    """How many answers Ollama was asked for, from its own request log."""
    return ollama.log_path.read_text(errors="replace").count('"/api/chat"')


def shared(redis_server: RedisServer, **limits: str) -> dict[str, str]:
    return {"CODA_LIMITS_STORAGE": redis_server.url, "CODA_SECRET_KEY": "shared", **limits}


def test_two_instances_sharing_redis_share_a_users_answers_per_minute(
    ollama_server: OllamaServer, redis_server: RedisServer, app_factory: AppFactory
) -> None:
    # A short answer on a warm model: the minute must not run out before the second question.
    env = shared(redis_server, CODA_ANSWERS_PER_MINUTE="1", CODA_MAX_TOKENS="8")
    ollama_server.warm()
    one, two = app_factory(ollama_server.host, **env), app_factory(ollama_server.host, **env)
    with one.browser() as first:
        answer = first.post("/chat", data={"message": "こんにちは"})
    asked_before = chat_posts(ollama_server)

    with two.browser() as second:
        refused = second.post("/chat", data={"message": "もう一度"})

    assert answer.status_code == 200
    assert list(events([answer.text]))[-1].name == "done"
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert chat_posts(ollama_server) == asked_before
    (line,) = two.access_lines_for("/chat")
    assert (line["outcome"], line["error_kind"]) == ("refused", "answers_per_minute")
    (earlier,) = one.access_lines_for("/chat")
    assert earlier["user"] == line["user"]  # one pseudonym for one user on both instances


def test_an_answer_ended_by_a_shutdown_gives_its_place_back_to_the_other_instance(
    ollama_server: OllamaServer, redis_server: RedisServer, app_factory: AppFactory
) -> None:
    env = shared(redis_server, CODA_STREAMS_PER_USER="1")
    # The first instance's answer is long enough to be cut; the second's are short.
    long = {"CODA_MAX_TOKENS": "2000", "CODA_TEMPERATURE": "0.8"}
    one, two = (
        app_factory(ollama_server.host, **env, **long),
        app_factory(ollama_server.host, **env),
    )

    with (
        one.browser() as first,
        first.stream("POST", "/chat", data={"message": COUNTING}) as streaming,
    ):
        received = events(streaming.iter_text())
        next(e for e in received if text_partials(e.data))
        with two.browser() as second:
            busy = second.post("/chat", data={"message": "こんにちは"})
        one.process.send_signal(signal.SIGTERM)
        ending = list(received)[-1]
    one.process.wait(timeout=15)
    with two.browser() as second:
        after = second.post("/chat", data={"message": "こんにちは"})

    assert busy.status_code == 429
    assert ending.name == "error"  # the drain's "restarting" message
    assert after.status_code == 200
    assert list(events([after.text]))[-1].name == "done"
