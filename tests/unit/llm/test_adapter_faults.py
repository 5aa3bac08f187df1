"""What both adapters promise, under faults a real server cannot be made to produce on demand.

Each test runs once per API, replayed in its exact wire format (tests/support/replayed.py): what
the port promises (retry only before the first token, errors in our kinds, closing stops the
answer) must not depend on which server is behind it. The happy paths and the real connection
faults run against a real server in tests/integration/llm.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from coda.llm import (
    BusyError,
    Chunk,
    EndedEarlyError,
    LLMTimeoutError,
    Message,
    ModelCannotLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    RejectedError,
    Role,
    ServerAuthError,
    StreamInterruptedError,
    UnavailableError,
)
from tests.support.auth import BearerToken
from tests.support.replayed import OPTIONS, SETTINGS, WIRES, Wire

MESSAGES = [Message(Role.USER, "hi")]


@pytest.fixture(params=WIRES, ids=lambda wire: wire.name)
def wire(request: pytest.FixtureRequest) -> Wire:
    chosen: Wire = request.param
    return chosen


@pytest.mark.parametrize("status", [429, 503])
def test_busy_server_is_retried_before_the_first_token(wire: Wire, status: int) -> None:
    answers = iter([wire.error(status, "server busy"), wire.ok(wire.answer(["ok"]))])
    model = wire.model(lambda _: next(answers))

    chunks = list(model.stream(MESSAGES, OPTIONS))

    assert "".join(c.text for c in chunks) == "ok"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.attempts == 2  # what the metrics count as one retry


def test_an_answer_sent_once_says_so(wire: Wire) -> None:
    model = wire.model(lambda _: wire.ok(wire.answer(["ok"])))

    *_, last = model.stream(MESSAGES, OPTIONS)

    assert last.usage is not None
    assert last.usage.attempts == 1


def test_busy_server_gives_busy_after_the_configured_attempts(wire: Wire) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.error(503, "server busy, please try again.  maximum pending requests exceeded")

    with pytest.raises(BusyError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == SETTINGS.retry_attempts
    assert caught.value.attempts == SETTINGS.retry_attempts
    assert caught.value.log_fields()["upstream_status"] == 503


def test_missing_model_is_not_retried(wire: Wire) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.error(404, 'model "m:1" not found, try pulling it first')

    with pytest.raises(ModelNotFoundError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1
    assert caught.value.params == {"model": "m:1"}
    assert "not found" in caught.value.detail


@pytest.mark.parametrize("status", [400, 422])
def test_upstream_bad_request_is_a_rejection_without_retry(wire: Wire, status: int) -> None:
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return wire.error(status, "invalid options")

    with pytest.raises(RejectedError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert caught.value.kind == "rejected"
    # Never the same request twice. The OpenAI adapter asks a server it has not yet seen take
    # `stream_options` once more without it (test_openai_faults.py), which is another request.
    assert len(sent) == len(set(sent))
    assert len(sent) == (2 if wire.name == "openai" else 1)


def test_error_in_the_stream_after_text_interrupts_and_keeps_what_was_sent(wire: Wire) -> None:
    body = wire.partial("partial ") + wire.error_in_stream("runner process has terminated")
    stream = wire.model(lambda _: wire.ok(body)).stream(MESSAGES, OPTIONS)
    received: list[Chunk] = []

    with pytest.raises(StreamInterruptedError, match="runner process has terminated"):
        received.extend(stream)

    assert [c.text for c in received if c.text] == ["partial "]


def test_connection_drop_mid_stream_is_an_interruption_not_a_retry(wire: Wire) -> None:
    calls: list[int] = []

    def body() -> Iterator[bytes]:
        yield wire.partial("half")
        raise httpx.ReadError("connection reset by peer")

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.ok(body())

    with pytest.raises(StreamInterruptedError, match="ReadError"):
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1, "text was already shown: a retry would duplicate it"


@pytest.mark.parametrize("ending", [b"", b"{not json\n", b"data: {not json\n\n"])
def test_a_stream_that_ends_without_usage_is_an_interruption(wire: Wire, ending: bytes) -> None:
    model = wire.model(lambda _: wire.ok(wire.partial("cut") + ending))

    with pytest.raises(StreamInterruptedError):
        list(model.stream(MESSAGES, OPTIONS))


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(httpx.ReadTimeout, LLMTimeoutError), (httpx.ConnectTimeout, UnavailableError)],
)
def test_timeouts_before_the_first_token(
    wire: Wire, fault: type[httpx.TimeoutException], kind: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise fault("timed out", request=request)

    with pytest.raises(kind):
        list(wire.model(handler).stream(MESSAGES, OPTIONS))


def test_refused_connection_is_retried_then_unavailable(wire: Wire) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UnavailableError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 3
    assert caught.value.log_fields()["attempts"] == 3


def test_a_silent_server_times_out_at_the_first_token_timeout(wire: Wire) -> None:
    """A real socket that accepts and never answers: the explicit read timeout is in force."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        held: list[socket.socket] = []
        threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
        host, port = listener.getsockname()
        model = wire.at(f"http://{host}:{port}", first_token_timeout=1.0)

        started = time.monotonic()
        with pytest.raises(LLMTimeoutError):
            list(model.stream(MESSAGES, OPTIONS))
        elapsed = time.monotonic() - started
        model.close()
        for connection in held:
            connection.close()

    assert 0.9 < elapsed < 5


def test_closing_the_stream_closes_the_http_response(wire: Wire) -> None:
    closed = threading.Event()

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield wire.partial("one")
            yield wire.answer(["two"])

        def close(self) -> None:
            closed.set()

    answer = wire.model(lambda _: httpx.Response(200, stream=Body())).stream(MESSAGES, OPTIONS)
    assert next(c for c in answer if c.text).text == "one"

    answer.close()

    assert closed.is_set()


def test_auth_hook_signs_every_request(wire: Wire) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-test-token"))
        if request.url.path == wire.listing_path:
            return httpx.Response(200, json=wire.listing)
        return wire.ok(wire.answer(["a"]))

    model = wire.model(handler, auth=BearerToken("t0ken", header="X-Test-Token"))
    list(model.stream(MESSAGES, OPTIONS))
    model.list_models()

    assert seen == ["Bearer t0ken", "Bearer t0ken"]


def test_listing_names_the_servers_models(wire: Wire) -> None:
    model = wire.model(lambda _: httpx.Response(200, json=wire.listing))

    assert {"m:1", "other:latest"} <= set(model.list_models())


def test_listing_an_unexpected_answer_is_unavailable(wire: Wire) -> None:
    model = wire.model(lambda _: httpx.Response(200, json={"unexpected": True}))

    with pytest.raises(UnavailableError):
        model.list_models()


def test_a_sibling_answers_with_its_own_model_over_the_same_client(wire: Wire) -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content)["model"])
        return wire.ok(wire.answer([]))

    model = wire.model(handler)
    sibling = model.with_model("other:2")
    list(sibling.stream(MESSAGES, OPTIONS))
    list(model.stream(MESSAGES, OPTIONS))

    assert (model.model, sibling.model) == ("m:1", "other:2")
    assert asked == ["other:2", "m:1"]


# Ollama's own words for a model that cannot fit (llm/server.go, v0.17.4), as /api/chat answers
# them with 500 and as its /v1 wraps them in OpenAI's error object.
NO_MEMORY = "model requires more system memory (7.5 GiB) than is available (5.2 GiB)"


def test_a_model_that_cannot_fit_is_not_retried_and_names_the_model_and_why(wire: Wire) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.error(500, NO_MEMORY)

    with pytest.raises(ModelCannotLoadError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1
    assert caught.value.kind == "model_cannot_load"
    assert caught.value.params == {
        "model": "m:1",
        "reason": "memory",
        "needed": "7.5 GiB",
        "available": "5.2 GiB",
    }
    assert NO_MEMORY in caught.value.log_fields()["error_detail"]
    assert caught.value.log_fields()["upstream_status"] == 500


@pytest.mark.parametrize(
    "said",
    [
        "llama runner process has terminated: exit status 2",
        "timed out waiting for llama runner to start - progress 0.00 - ",
        "model failed to load, this may be due to resource limitations or an internal error, "
        "check ollama server logs for details",
    ],
)
def test_a_load_that_fails_is_not_retried(wire: Wire, said: str) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.error(500, said)

    with pytest.raises(ModelCannotLoadError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1
    assert caught.value.params["model"] == "m:1"


def test_a_runner_that_stopped_is_retried_since_the_next_request_starts_another(
    wire: Wire,
) -> None:
    said = "model runner has unexpectedly stopped, this may be due to resource limitations"
    answers = iter([wire.error(500, said), wire.ok(wire.answer(["ok"]))])

    chunks = list(wire.model(lambda _: next(answers)).stream(MESSAGES, OPTIONS))

    assert chunks[-1].usage is not None
    assert chunks[-1].usage.attempts == 2


# Length refusals as vLLM (400, its BadRequestError text) and llama.cpp's server (400
# `exceed_context_size_error`; 500 in older builds) word them.
TOO_LONG = [
    (
        400,
        "This model's maximum context length is 512 tokens. However, you requested 1290 tokens "
        "(266 in the messages, 1024 in the completion). Please reduce the length of the messages "
        "or completion.",
    ),
    (400, "request (1290 tokens) exceeds the available context size (512 tokens)"),
    (500, "the request exceeds the available context size, try increasing the context size"),
    (400, "the input length exceeds the context length"),  # Ollama's runner, truncate: false
]


@pytest.mark.parametrize(("status", "said"), TOO_LONG)
def test_a_prompt_refused_for_its_length_says_so_and_is_not_retried(
    wire: Wire, status: int, said: str
) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.error(status, said)

    with pytest.raises(PromptTooLongError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1, "neither retried nor asked again without stream_options"
    assert caught.value.kind == "prompt_too_long"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_said_and_not_retried(wire: Wire, status: int) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        return wire.error(status, "Invalid API Key")

    with pytest.raises(ServerAuthError) as caught:
        list(wire.model(handler).stream(MESSAGES, OPTIONS))

    assert len(calls) == 1
    assert caught.value.params == {"status": status}


def test_a_stream_the_server_ends_before_its_last_line_is_ended_not_cut(wire: Wire) -> None:
    """The stream closes cleanly after text, with no `done` line (Ollama) or `finish_reason`
    (OpenAI's): the server ended the answer; no connection was cut."""
    received: list[Chunk] = []

    with pytest.raises(EndedEarlyError) as caught:
        received.extend(
            wire.model(lambda _: wire.ok(wire.partial("same same"))).stream(MESSAGES, OPTIONS)
        )

    assert caught.value.kind == "ended_early"
    assert [c.text for c in received] == ["same same"]


def test_a_cut_connection_is_still_an_interruption(wire: Wire) -> None:
    def body() -> Iterator[bytes]:
        yield wire.partial("half")
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message")

    with pytest.raises(StreamInterruptedError) as caught:
        list(wire.model(lambda _: wire.ok(body())).stream(MESSAGES, OPTIONS))

    assert caught.value.kind == "interrupted"
