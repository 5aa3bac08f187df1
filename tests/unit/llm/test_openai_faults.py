"""What only the OpenAI-compatible adapter does with OpenAI's wire format, replayed byte for byte.

The faults both adapters must handle alike are in test_adapter_faults.py; the real server (Ollama's
`/v1`) is in tests/integration/llm.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest

from coda.llm import ChatModel, Message, Role, SpeedSource, StreamInterruptedError, UnavailableError
from coda.llm.openai import OpenAIChatModel
from tests.support.auth import BearerToken
from tests.support.replayed import (
    OPENAI,
    OPENAI_END,
    OPENAI_FINISHED,
    OPENAI_OPENING,
    OPTIONS,
    openai_chunk,
    openai_models,
    openai_usage,
)

MESSAGES = [Message(Role.SYSTEM, "be brief"), Message(Role.USER, "hi")]
KEY = "sk-replayed-key-0123456789"


def model_with(handler: Callable[[httpx.Request], httpx.Response]) -> ChatModel:
    return OpenAIChatModel(OPENAI.server, api_key=KEY, transport=httpx.MockTransport(handler))


def test_text_then_usage_with_the_speed_measured_by_us() -> None:
    def paced() -> Iterator[bytes]:
        yield OPENAI_OPENING + openai_chunk("a")
        time.sleep(0.1)
        yield openai_chunk("b") + OPENAI_FINISHED

    chunks = list(model_with(lambda _: OPENAI.ok(paced())).stream(MESSAGES, OPTIONS))

    assert [c.text for c in chunks] == ["a", "b", ""]
    final = chunks[-1].usage
    assert final is not None
    assert (final.model, final.prompt_tokens, final.completion_tokens) == ("m:1", 12, 20)
    assert final.speed_source is SpeedSource.MEASURED
    # 19 tokens after the first, at least 0.1 s after it.
    assert final.tokens_per_second is not None
    assert 0 < final.tokens_per_second <= 190
    assert final.load_seconds is None
    assert final.done_reason == "stop"


def test_the_servers_own_speed_is_taken_where_it_sends_one() -> None:
    timings = {"predicted_n": 20, "predicted_ms": 500.0, "predicted_per_second": 40.0}
    body = (
        OPENAI_OPENING
        + openai_chunk("a")
        + openai_chunk(finish="length")
        + openai_usage(timings=timings)
        + OPENAI_END
    )

    final = list(model_with(lambda _: OPENAI.ok(body)).stream(MESSAGES, OPTIONS))[-1].usage

    assert final is not None
    assert (final.tokens_per_second, final.speed_source) == (40.0, SpeedSource.SERVER)
    assert final.done_reason == "length"


def test_request_carries_the_options_the_messages_and_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return OPENAI.ok(OPENAI_FINISHED)

    list(model_with(handler).stream(MESSAGES, replace(OPTIONS, seed=7)))

    (request,) = seen
    assert request.url == "http://vllm.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "m:1",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 1024,
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "seed": 7,
    }


def test_no_seed_is_sent_when_none_is_set() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return OPENAI.ok(OPENAI_FINISHED)

    list(model_with(handler).stream(MESSAGES, OPTIONS))

    assert "seed" not in bodies[0]


def test_the_identity_token_leaves_authorization_to_the_api_key() -> None:
    seen: list[tuple[str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            (
                request.headers.get("authorization"),
                request.headers.get("x-serverless-authorization"),
            )
        )
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=openai_models())
        return OPENAI.ok(OPENAI_FINISHED)

    token = BearerToken("id-t0ken", header="X-Serverless-Authorization")
    model = OpenAIChatModel(
        OPENAI.server, api_key=KEY, auth=token, transport=httpx.MockTransport(handler)
    )
    list(model.stream(MESSAGES, OPTIONS))
    model.list_models()

    assert seen == [(f"Bearer {KEY}", "Bearer id-t0ken")] * 2


def test_listing_refused_for_a_wrong_key_is_unavailable_with_the_status() -> None:
    model = model_with(lambda _: httpx.Response(401, json={"error": "Unauthorized"}))

    with pytest.raises(UnavailableError) as caught:
        model.list_models()

    assert caught.value.upstream_status == 401


def test_preload_asks_for_a_single_token() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        completion = {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m:1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "x"},
                    "finish_reason": "length",
                }
            ],
        }
        return httpx.Response(200, json=completion)

    model_with(handler).preload(OPTIONS)

    assert bodies[0]["max_tokens"] == 1
    assert bodies[0]["model"] == "m:1"


def test_the_api_key_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(401, json={"error": {"message": "Invalid API key"}})
        return OPENAI.ok(OPENAI_OPENING + openai_chunk("a") + OPENAI_FINISHED)

    model = model_with(handler)
    with caplog.at_level(logging.DEBUG):
        list(model.stream(MESSAGES, OPTIONS))
        with pytest.raises(UnavailableError) as caught:
            model.list_models()

    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert all(KEY not in repr(record.__dict__) for record in caplog.records)
    assert KEY not in str(caught.value.log_fields())


def test_a_stream_finished_without_usage_is_an_interruption() -> None:
    """A server that ignores `stream_options.include_usage`: the answer is kept, marked cut."""
    body = OPENAI_OPENING + openai_chunk("all") + openai_chunk(finish="stop") + OPENAI_END
    received: list[str] = []

    with pytest.raises(StreamInterruptedError, match="without usage"):
        received.extend(
            c.text for c in model_with(lambda _: OPENAI.ok(body)).stream(MESSAGES, OPTIONS)
        )

    assert received == ["all"]
