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

from coda.llm import (
    ChatModel,
    LLMError,
    Message,
    RejectedError,
    Role,
    ServerAuthError,
    SpeedSource,
    StreamInterruptedError,
    TokenSource,
    estimate_tokens,
)
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


def test_listing_refused_for_a_wrong_key_says_so_with_the_status() -> None:
    model = model_with(lambda _: httpx.Response(401, json={"error": "Unauthorized"}))

    with pytest.raises(ServerAuthError) as caught:
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
        with pytest.raises(ServerAuthError) as caught:
            model.list_models()

    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert all(KEY not in repr(record.__dict__) for record in caplog.records)
    assert KEY not in str(caught.value.log_fields())


# Servers that leave usage out: the stream below is what OpenAI's API reference documents for
# `stream: true` without `stream_options` (chunks with `delta.content`, one whose choice has a
# `finish_reason`, then `data: [DONE]`), and what servers that ignore `include_usage` send with it.
NO_USAGE = OPENAI_OPENING + openai_chunk("all") + openai_chunk(finish="stop") + OPENAI_END


def test_a_finished_stream_without_usage_is_a_complete_answer_with_estimated_counts() -> None:
    chunks = list(model_with(lambda _: OPENAI.ok(NO_USAGE)).stream(MESSAGES, OPTIONS))

    assert [c.text for c in chunks] == ["all", ""]
    final = chunks[-1].usage
    assert final is not None
    assert final.token_source is TokenSource.ESTIMATED
    assert final.done_reason == "stop"
    assert final.completion_tokens == 1  # one streamed piece
    assert final.prompt_tokens >= estimate_tokens("be brief") + estimate_tokens("hi")


def test_a_stream_that_ends_before_any_finish_reason_is_still_cut_short() -> None:
    body = OPENAI_OPENING + openai_chunk("half") + OPENAI_END

    with pytest.raises(StreamInterruptedError):
        list(model_with(lambda _: OPENAI.ok(body)).stream(MESSAGES, OPTIONS))


def test_counts_sent_by_the_server_are_the_servers() -> None:
    *_, last = model_with(lambda _: OPENAI.ok(OPENAI_FINISHED)).stream(MESSAGES, OPTIONS)

    assert last.usage is not None
    assert last.usage.token_source is TokenSource.SERVER


def test_text_a_proxy_sends_after_the_usage_chunk_is_kept() -> None:
    # A proxy that flushes its buffered text after relaying the upstream's usage chunk: the API
    # does not promise usage is last but for `[DONE]`, so the answer ends at `[DONE]`.
    body = (
        OPENAI_OPENING
        + openai_chunk("one ")
        + openai_chunk(finish="stop")
        + openai_usage()
        + openai_chunk("two")
        + OPENAI_END
    )

    chunks = list(model_with(lambda _: OPENAI.ok(body)).stream(MESSAGES, OPTIONS))

    assert "".join(c.text for c in chunks) == "one two"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 20


# How servers refuse a field they do not take: OpenAI's error object (vLLM, llama.cpp), and the
# 422 FastAPI writes for a request model that forbids extra fields (`{"detail": [...]}`).
REFUSALS = [
    (400, {"error": {"message": "Unrecognized request argument supplied: stream_options"}}),
    (422, {"detail": [{"loc": ["body", "stream_options"], "msg": "extra fields not permitted"}]}),
]


@pytest.mark.parametrize(("status", "refusal"), REFUSALS)
def test_a_server_refusing_stream_options_is_asked_without_it_from_then_on(
    status: int, refusal: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "stream_options" in body:
            return httpx.Response(status, json=refusal)
        return OPENAI.ok(NO_USAGE)

    model = model_with(handler)
    with caplog.at_level(logging.WARNING):
        first = list(model.stream(MESSAGES, OPTIONS))
    second = list(model.with_model("other:2").stream(MESSAGES, OPTIONS))

    assert [("stream_options" in b) for b in bodies] == [True, False, False]
    assert first[-1].usage is not None
    assert second[-1].usage is not None
    assert "".join(c.text for c in first) == "all"
    (warning,) = [r for r in caplog.records if "stream_options" in r.getMessage()]
    assert "stream_options" in str(warning.__dict__["error_detail"])


def test_a_refusal_of_the_request_itself_is_not_blamed_on_stream_options() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(400, json={"error": {"message": "temperature out of range"}})

    model = model_with(handler)
    with pytest.raises(RejectedError) as caught:
        list(model.stream(MESSAGES, OPTIONS))
    list_after = list[bool]()
    with pytest.raises(RejectedError):
        list(model.stream(MESSAGES, OPTIONS))
    list_after.extend("stream_options" in b for b in bodies[2:])

    assert "temperature out of range" in caught.value.detail
    assert list_after == [True, False], "still asked for usage: the field was never the fault"


def test_a_server_that_took_stream_options_is_never_asked_twice_for_one_refusal() -> None:
    answers = iter(
        [OPENAI.ok(OPENAI_FINISHED), httpx.Response(400, json={"error": {"message": "bad"}})]
    )
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return next(answers)

    model = model_with(handler)
    list(model.stream(MESSAGES, OPTIONS))
    with pytest.raises(RejectedError):
        list(model.stream(MESSAGES, OPTIONS))

    assert len(calls) == 2


def test_usage_is_never_asked_for_when_turned_off() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return OPENAI.ok(NO_USAGE)

    model = OpenAIChatModel(OPENAI.server, transport=httpx.MockTransport(handler), ask_usage=False)
    *_, last = model.stream(MESSAGES, OPTIONS)

    assert "stream_options" not in bodies[0]
    assert last.usage is not None
    assert last.usage.token_source is TokenSource.ESTIMATED


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"detail": [{"msg": "field required"}]}, "field required"),
        ({"error": "the request exceeds the available context size"}, "available context size"),
    ],
)
def test_the_log_keeps_the_servers_reason_for_a_refusal(
    body: dict[str, object], reason: str
) -> None:
    model = OpenAIChatModel(
        OPENAI.server,
        transport=httpx.MockTransport(lambda _: httpx.Response(422, json=body)),
        ask_usage=False,
    )

    with pytest.raises(LLMError) as caught:
        list(model.stream(MESSAGES, OPTIONS))

    assert reason in caught.value.log_fields()["error_detail"]
