"""What every adapter does the same way, whatever client library it wraps.

Both adapters reach their server over httpx, and the rules below hold for both:
- Every wait is bounded: `stream_timeout` bounds connecting and any silence (loading the model
  included), `control_timeout` keeps a model listing fast while answers stream, and
  `stream_answer` bounds one whole answer.
- A request is retried only until its first chunk has arrived, with backoff, and only when the
  server could not be reached or was busy (`RETRYABLE`). Nothing after it is retried, so no text
  is ever shown twice.
- An HTTP status, or an httpx failure, means the same thing whichever client saw it
  (`coda.llm.server_errors`); each adapter's `_translate` first unwraps what its own client made
  of it.
- The HTTP response of an answer is closed however the answer ends, which is what makes the
  server stop generating when a reader stops reading.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import replace
from typing import Any, Self, TypeVar

import backoff
import httpx

from coda.llm.errors import (
    BusyError,
    EndedEarlyError,
    LLMError,
    LLMTimeoutError,
    UnavailableError,
)
from coda.llm.types import Chunk, ServerConfig

logger = logging.getLogger(__name__)

P = TypeVar("P")
T = TypeVar("T")
# What went wrong, and whether text had already been sent when it did.
Translate = Callable[[Exception, bool], LLMError]

RETRYABLE = (UnavailableError, BusyError)
KEEPALIVE_CONNECTIONS = 20  # httpx's default; see stream_limits
# What any adapter's call can fail with besides its client's own errors: ours, httpx's, the
# socket's, and a body that cannot be parsed. Anything else is a bug and propagates as it is, for
# the web tier to report as one (`coda.frontend.streaming.turn`).
TRANSPORT_FAILURES = (LLMError, httpx.HTTPError, ConnectionError, ValueError)


class ModelOnServer:
    """What every adapter is: one model on one server (see `ChatModel`).

    `with_model` gives a sibling that shares the adapter's clients: choosing a model opens no new
    connections, and closing either closes both.
    """

    _server: ServerConfig

    @property
    def model(self) -> str:
        return self._server.model

    def with_model(self, name: str) -> Self:
        sibling = copy.copy(self)
        sibling._server = replace(self._server, model=name)
        return sibling


def stream_timeout(server: ServerConfig) -> httpx.Timeout:
    """For answers: the read timeout bounds the wait for the first token and any later silence."""
    return httpx.Timeout(server.first_token_timeout, connect=server.connect_timeout)


def stream_limits(server: ServerConfig) -> httpx.Limits:
    """One pooled connection per answer streaming at once (httpx's default is 100), 20 kept idle.

    Few idle ones are kept on purpose: httpcore scans every idle connection against all the others
    whenever a response closes, which with hundreds of them cost most of the worker's CPU.
    """
    return httpx.Limits(
        max_connections=server.max_connections, max_keepalive_connections=KEEPALIVE_CONNECTIONS
    )


def control_timeout(server: ServerConfig) -> httpx.Timeout:
    """For listing models: answered at once, even while long answers are streaming."""
    return httpx.Timeout(server.connect_timeout)


def stream_answer(
    send: Callable[[], Iterator[P]],
    convert: Callable[[P], Chunk | None],
    *,
    translate: Translate,
    failures: tuple[type[Exception], ...],
    server: ServerConfig,
    finish: Callable[[], Chunk | None] = lambda: None,
) -> Generator[Chunk, None, None]:
    """One answer: `send` opens the request, `convert` turns each part into a chunk (or None).

    Lazy like any generator: nothing is sent until the first chunk is asked for. `failures` are
    the exceptions the adapter's client can raise; `translate` maps them to our kinds. A chunk
    with usage ends the answer (Ollama's `done` line is its last); an API whose end is the end of
    the stream (OpenAI's, where usage may come before more text, or not at all) gives its last
    chunk from `finish` once the parts run out, or None if the server never said it was done.
    """
    deadline = time.monotonic() + server.total_timeout
    parts, part, tries = _open(send, translate=translate, failures=failures, server=server)
    sent_text = False
    try:
        while part is not None:
            chunk = convert(part)
            if chunk is not None:
                # Reasoning shown counts as text: a retry would show it twice.
                sent_text = sent_text or bool(chunk.text or chunk.thinking)
                if chunk.usage is not None:
                    yield replace(chunk, usage=replace(chunk.usage, attempts=tries))
                    return
                yield chunk
            if time.monotonic() > deadline:
                raise LLMTimeoutError(
                    f"answer took longer than {server.total_timeout:g}s",
                    params={"seconds": server.total_timeout},
                )
            try:
                part = next(parts, None)
            except failures as exc:
                raise translate(exc, sent_text) from exc
        last = finish()
        if last is None or last.usage is None:
            # The server closed a 200 stream cleanly before its final line: it ended the answer
            # (seen from Ollama while the model repeated one token); a cut connection raises above.
            raise EndedEarlyError("the server ended the stream without its final line")
        yield replace(last, usage=replace(last.usage, attempts=tries))
    finally:
        close_parts(parts)


def _open(
    send: Callable[[], Iterator[P]],
    *,
    translate: Translate,
    failures: tuple[type[Exception], ...],
    server: ServerConfig,
) -> tuple[Iterator[P], P | None, int]:
    """Send the request and read the first part, retrying only what is safe to retry; also says
    how many tries that took."""

    def first() -> tuple[Iterator[P], P | None]:
        parts = send()
        try:
            return parts, next(parts, None)
        except BaseException:
            close_parts(parts)
            raise

    (parts, part), tries = _retrying(first, translate, failures, server)
    return parts, part, tries


def call_with_retry(
    call: Callable[[], T],
    *,
    translate: Translate,
    failures: tuple[type[Exception], ...],
    server: ServerConfig,
) -> T:
    """One request that streams nothing (an embedding): retried as an answer's start is, while
    the server is unreachable or busy, and its failures mapped by `translate`."""
    return _retrying(call, translate, failures, server)[0]


def _retrying(
    call: Callable[[], T],
    translate: Translate,
    failures: tuple[type[Exception], ...],
    server: ServerConfig,
) -> tuple[T, int]:
    """`call()` and how many tries it took: retried with backoff while the server is unreachable
    or busy (`RETRYABLE`), its library's failures mapped to the port's errors by `translate`."""
    tries = 0

    @backoff.on_exception(
        backoff.expo,
        RETRYABLE,
        max_tries=server.retry_attempts,
        max_time=server.retry_max_seconds,
        factor=0.5,
        max_value=4,
        on_backoff=_log_retry,
        logger=None,  # _log_retry writes our one structured line per retry
    )
    def attempt() -> T:
        nonlocal tries
        tries += 1
        try:
            return call()
        except failures as exc:
            error = translate(exc, False)
            error.attempts = tries
            raise error from exc

    return attempt(), tries


def client_options(
    auth: httpx.Auth | None, transport: httpx.BaseTransport | None
) -> dict[str, Any]:
    """What an adapter's HTTP client is given besides the server's URL and timeouts: only what
    is set, so the libraries' own defaults stand otherwise."""
    given = {"auth": auth, "transport": transport}
    return {name: value for name, value in given.items() if value is not None}


def close_parts(parts: Iterator[Any]) -> None:
    """Close what an answer was read from: a client's generator, or its stream object."""
    close = getattr(parts, "close", None)
    if close is not None:
        close()


def _log_retry(details: Mapping[str, Any]) -> None:
    exc = details.get("exception")
    logger.warning(
        "model server not ready, retrying",
        extra={
            "attempt": details.get("tries"),
            "wait_seconds": round(float(details.get("wait") or 0), 3),
            "error_kind": getattr(exc, "kind", type(exc).__name__),
        },
    )
