"""Faults a real Ollama cannot be made to produce on demand, replayed in its real wire format.

Each handler answers `/api/chat` exactly as Ollama does: NDJSON lines of `ChatResponse`, error
bodies `{"error": "..."}` with 404/503 statuses, and error lines inside a 200 stream. The happy
paths and the real connection faults are tested against a real server in tests/integration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from coda.config import Settings
from coda.infrastructure.bootstrap import generation_options, server_config
from coda.llm import (
    BusyError,
    Chunk,
    LLMTimeoutError,
    Message,
    ModelNotFoundError,
    RejectedError,
    Role,
    StreamInterruptedError,
    UnavailableError,
)
from coda.llm.ollama import OllamaChatModel
from tests.support.auth import BearerToken

SETTINGS = Settings(model="m:1", retry_attempts=3, retry_max_seconds=5, connect_timeout=1)
SERVER = server_config(SETTINGS)
OPTIONS = generation_options(SETTINGS)
MESSAGES = [Message(Role.USER, "hi")]


def line(content: str) -> bytes:
    part = {
        "model": "m:1",
        "created_at": "2026-11-21T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": False,
    }
    return json.dumps(part).encode() + b"\n"


DONE = (
    json.dumps(
        {
            "model": "m:1",
            "created_at": "2026-11-21T00:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 2_000_000_000,
            "load_duration": 500_000_000,
            "prompt_eval_count": 12,
            "prompt_eval_duration": 100_000_000,
            "eval_count": 20,
            "eval_duration": 1_000_000_000,
        }
    ).encode()
    + b"\n"
)


# What /api/tags answers (trimmed to the fields the client reads).
TAGS_BODY = {
    "models": [
        {"name": "m:1", "model": "m:1", "size": 253_000_000, "digest": "abc"},
        {"name": "other:latest", "model": "other:latest", "size": 253_000_000, "digest": "abc"},
    ]
}


def error_body(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message})


def model_with(handler: Callable[[httpx.Request], httpx.Response]) -> OllamaChatModel:
    return OllamaChatModel(SERVER, transport=httpx.MockTransport(handler))


def test_usage_is_converted_from_nanoseconds() -> None:
    model = model_with(lambda _: httpx.Response(200, content=line("a") + line("b") + DONE))

    chunks = list(model.stream(MESSAGES, OPTIONS))

    assert [c.text for c in chunks] == ["a", "b", ""]
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 20)
    assert usage.tokens_per_second == 20.0
    assert (usage.load_seconds, usage.total_seconds) == (0.5, 2.0)


def test_request_carries_options_and_the_messages() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=DONE)

    list(model_with(handler).stream(MESSAGES, OPTIONS))

    (body,) = seen
    assert body["model"] == "m:1"
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["options"] == {
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "num_predict": 1024,
        "num_ctx": 8192,
    }


def test_busy_server_is_retried_before_the_first_token() -> None:
    answers = iter(
        [
            error_body(503, "server busy, please try again.  maximum pending requests exceeded"),
            httpx.Response(200, content=line("ok") + DONE),
        ]
    )
    model = model_with(lambda _: next(answers))

    chunks = list(model.stream(MESSAGES, OPTIONS))

    assert "".join(c.text for c in chunks) == "ok"


def test_busy_server_gives_busy_after_the_configured_attempts() -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error_body(503, "server busy, please try again.  maximum pending requests exceeded")

    with pytest.raises(BusyError) as caught:
        list(model_with(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == SETTINGS.retry_attempts
    assert caught.value.attempts == SETTINGS.retry_attempts
    assert caught.value.log_fields()["upstream_status"] == 503


def test_missing_model_is_not_retried() -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error_body(404, 'model "m:1" not found, try pulling it first')

    with pytest.raises(ModelNotFoundError) as caught:
        list(model_with(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1
    assert caught.value.params == {"model": "m:1"}


def test_error_line_after_text_interrupts_and_keeps_what_was_sent() -> None:
    body = line("partial ") + b'{"error":"llama runner process has terminated"}\n'
    stream = model_with(lambda _: httpx.Response(200, content=body)).stream(MESSAGES, OPTIONS)
    received: list[Chunk] = []

    with pytest.raises(StreamInterruptedError, match="runner process has terminated"):
        received.extend(stream)

    assert [c.text for c in received] == ["partial "]


def test_connection_drop_mid_stream_is_an_interruption_not_a_retry() -> None:
    calls: list[int] = []

    def body() -> Iterator[bytes]:
        yield line("half")
        raise httpx.ReadError("connection reset by peer")

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=body())

    with pytest.raises(StreamInterruptedError):
        list(model_with(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1, "text was already shown: a retry would duplicate it"


def test_stream_without_a_final_chunk_is_an_interruption() -> None:
    model = model_with(lambda _: httpx.Response(200, content=line("cut")))

    with pytest.raises(StreamInterruptedError):
        list(model.stream(MESSAGES, OPTIONS))


def test_read_timeout_before_the_first_token_is_a_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(LLMTimeoutError):
        list(model_with(handler).stream(MESSAGES, OPTIONS))


def test_refused_connection_is_retried_then_unavailable() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UnavailableError) as caught:
        list(model_with(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 3
    assert caught.value.log_fields()["attempts"] == 3


def test_upstream_bad_request_is_a_rejection_without_retry() -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error_body(400, "invalid options")

    with pytest.raises(RejectedError) as caught:
        list(model_with(handler).stream(MESSAGES, OPTIONS))

    assert caught.value.kind == "rejected"
    assert len(calls) == 1


def test_auth_hook_signs_every_request() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.url.path == "/api/tags":
            return httpx.Response(200, json=TAGS_BODY)
        return httpx.Response(200, content=DONE)

    transport = httpx.MockTransport(handler)
    model = OllamaChatModel(SERVER, auth=BearerToken("t0ken"), transport=transport)
    list(model.stream(MESSAGES, OPTIONS))
    model.list_models()

    assert seen == ["Bearer t0ken", "Bearer t0ken"]


def test_listing_names_every_model_and_a_bare_name_for_latest() -> None:
    model = model_with(lambda _: httpx.Response(200, json=TAGS_BODY))

    assert model.list_models() == ["m:1", "other:latest", "other"]


def test_listing_an_unexpected_answer_is_unavailable() -> None:
    model = model_with(lambda _: httpx.Response(200, json={"unexpected": True}))

    with pytest.raises(UnavailableError, match="ValidationError"):
        model.list_models()


def test_a_sibling_answers_with_its_own_model_over_the_same_client() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content)["model"])
        return httpx.Response(200, content=DONE)

    model = model_with(handler)
    sibling = model.with_model("other:2")
    list(sibling.stream(MESSAGES, OPTIONS))
    list(model.stream(MESSAGES, OPTIONS))

    assert (model.model, sibling.model) == ("m:1", "other:2")
    assert asked == ["other:2", "m:1"]
    assert sibling._client is model._client
