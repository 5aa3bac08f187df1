"""The Ollama adapter: the official `ollama` client behind our `ChatModel` port.

The client has traps this module exists to absorb:
- `chat(stream=True)` returns a lazy generator: nothing is sent, and nothing can fail, until the
  first chunk is read. So the retry wraps "open and read the first chunk", never the whole answer.
- While streaming, httpx's own exceptions escape instead of the client's `ConnectionError`.
- `timeout=None` means "wait forever": we always pass an explicit `httpx.Timeout`.
- An `{"error": ...}` line can arrive inside a 200 stream; the client raises `ResponseError` with
  status -1 for it.
- A full queue is a 503, a missing model a 404, both as `ResponseError`.
- Closing our generator closes the client's, which closes the HTTP response; Ollama sees the
  connection drop and stops generating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any

import backoff
import httpx
import ollama

from coda.llm.errors import (
    BusyError,
    LLMError,
    LLMTimeoutError,
    ModelNotFoundError,
    RejectedError,
    StreamInterruptedError,
    UnavailableError,
)
from coda.llm.types import Chunk, GenerationOptions, Health, Message, ServerConfig, Usage

logger = logging.getLogger(__name__)

RETRYABLE = (UnavailableError, BusyError)
# What a call to Ollama can fail with; anything else is a bug and propagates as it is, for the web
# tier to report as one (`coda.frontend.turn`).
SERVER_FAILURES = (
    LLMError,
    ollama.ResponseError,
    ollama.RequestError,
    httpx.HTTPError,
    ConnectionError,
    ValueError,
)
NANOS = 1e9
KEEPALIVE_CONNECTIONS = 20  # httpx's default


class OllamaChatModel:
    """`ChatModel` served by an Ollama server over its native `/api/chat` streaming API."""

    def __init__(
        self,
        server: ServerConfig,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`auth` adds credentials to every request (the Cloud Run identity token)."""
        self._server = server
        extra: dict[str, Any] = {}
        if auth is not None:
            extra["auth"] = auth
        if transport is not None:
            extra["transport"] = transport
        # Streaming: the read timeout bounds the wait for the first token (which includes loading
        # the model) and any silence between tokens; the total is enforced per answer below.
        # The pool holds one connection per answer streaming at once (httpx's default is 100).
        # Few idle ones are kept: httpcore scans every idle connection against all the others
        # whenever a response closes, which with hundreds of them cost most of the worker's CPU.
        self._client = ollama.Client(
            host=server.url,
            timeout=httpx.Timeout(
                server.first_token_timeout,
                connect=server.connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=server.max_connections,
                max_keepalive_connections=KEEPALIVE_CONNECTIONS,
            ),
            **extra,
        )
        # Health checks must answer fast even while a long answer is streaming.
        self._control = ollama.Client(
            host=server.url,
            timeout=httpx.Timeout(server.connect_timeout),
            **extra,
        )

    @property
    def model(self) -> str:
        return self._server.model

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        self._client.close()  # type: ignore[no-untyped-call]
        self._control.close()  # type: ignore[no-untyped-call]

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        """Stream an answer; see the module docstring for how failures and closing behave."""
        deadline = time.monotonic() + self._server.total_timeout
        upstream, first = self._open(messages, options)
        sent_text = False
        try:
            part: ollama.ChatResponse | None = first
            while part is not None:
                chunk = _to_chunk(part, self.model)
                if chunk.text:
                    sent_text = True
                yield chunk
                if chunk.usage is not None:
                    return
                if time.monotonic() > deadline:
                    raise LLMTimeoutError(
                        f"answer took longer than {self._server.total_timeout:g}s",
                        params={"seconds": self._server.total_timeout},
                    )
                part = self._next(upstream, sent_text=sent_text)
            raise StreamInterruptedError("stream ended without a final chunk")
        finally:
            _close(upstream)

    def health(self) -> Health:
        """Ask `/api/show` for our model: one call proves both the server and the model."""
        try:
            self._control.show(self.model)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                return Health(True, False, f"model {self.model!r} not found on the server")
            return Health(False, False, f"server answered {exc.status_code}: {exc.error}")
        except (ollama.RequestError, ConnectionError, httpx.HTTPError) as exc:
            return Health(False, False, f"server unreachable: {type(exc).__name__}")
        except ValueError as exc:  # a body the client cannot parse: not an Ollama we understand
            return Health(False, False, f"unexpected answer from the server: {type(exc).__name__}")
        return Health(True, True)

    def preload(self, options: GenerationOptions) -> None:
        """An empty chat loads the model with the same context size real requests use.

        Ollama reloads a model whose `num_ctx` changes, so a preload with other options would be
        wasted: it must send the options every answer sends.
        """
        try:
            self._client.chat(model=self.model, messages=[], options=to_ollama_options(options))
        except SERVER_FAILURES as exc:
            raise _translate(exc, sent_text=False, model=self.model) from exc

    def _open(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> tuple[Iterator[ollama.ChatResponse], ollama.ChatResponse | None]:
        """Send the request and read the first chunk, retrying only what is safe to retry."""
        payload = [{"role": m.role.value, "content": m.content} for m in messages]
        tries = 0

        @backoff.on_exception(
            backoff.expo,
            RETRYABLE,
            max_tries=self._server.retry_attempts,
            max_time=self._server.retry_max_seconds,
            factor=0.5,
            max_value=4,
            on_backoff=_log_retry,
            logger=None,  # _log_retry writes our one structured line per retry
        )
        def attempt() -> tuple[Iterator[ollama.ChatResponse], ollama.ChatResponse | None]:
            nonlocal tries
            tries += 1
            try:
                upstream = self._client.chat(
                    model=self.model,
                    messages=payload,
                    options=to_ollama_options(options),
                    stream=True,
                )
                return upstream, next(upstream, None)
            except SERVER_FAILURES as exc:
                error = _translate(exc, sent_text=False, model=self.model)
                error.attempts = tries
                raise error from exc

        return attempt()

    def _next(
        self, upstream: Iterator[ollama.ChatResponse], *, sent_text: bool
    ) -> ollama.ChatResponse | None:
        try:
            return next(upstream, None)
        except SERVER_FAILURES as exc:
            raise _translate(exc, sent_text=sent_text, model=self.model) from exc


def to_ollama_options(options: GenerationOptions) -> dict[str, Any]:
    """Our options in Ollama's names; the benchmark's direct client sends exactly these too."""
    result: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "top_k": options.top_k,
        "num_predict": options.max_tokens,
        "num_ctx": options.context_length,
    }
    if options.seed is not None:
        result["seed"] = options.seed
    return result


def _to_chunk(part: ollama.ChatResponse, model: str) -> Chunk:
    text = part.message.content or ""
    if not part.done:
        return Chunk(text)
    eval_count = part.eval_count or 0
    eval_seconds = (part.eval_duration or 0) / NANOS
    usage = Usage(
        model=part.model or model,
        prompt_tokens=part.prompt_eval_count or 0,
        completion_tokens=eval_count,
        tokens_per_second=round(eval_count / eval_seconds, 2) if eval_seconds > 0 else None,
        load_seconds=round((part.load_duration or 0) / NANOS, 3),
        total_seconds=round((part.total_duration or 0) / NANOS, 3),
        done_reason=part.done_reason or "stop",
    )
    return Chunk(text, usage)


def _translate(exc: Exception, *, sent_text: bool, model: str) -> LLMError:
    """Map the client's and httpx's exceptions to ours; the single place that knows both."""
    if isinstance(exc, LLMError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, ollama.ResponseError):
        status = exc.status_code
        detail = f"ollama {status}: {exc.error}"
        if status == 404:
            return ModelNotFoundError(detail, params={"model": model}, upstream_status=404)
        if status in (429, 503):
            return BusyError(detail, upstream_status=status)
        if status == 400:
            return RejectedError(detail, upstream_status=400)
        if status == -1 and sent_text:
            return StreamInterruptedError(detail)
        return UnavailableError(detail, upstream_status=None if status == -1 else status)
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return LLMTimeoutError(f"{name}: no data from ollama within the read timeout")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
        return UnavailableError(f"{name}: cannot connect to ollama")
    # Any other transport failure, or a body the client cannot parse (a truncated JSON line).
    if sent_text:
        return StreamInterruptedError(f"{name}: {exc}")
    return UnavailableError(f"{name}: {exc}")


def _close(upstream: Iterator[Any]) -> None:
    close = getattr(upstream, "close", None)
    if close is not None:
        close()


def _log_retry(details: Mapping[str, Any]) -> None:
    exc = details.get("exception")
    logger.warning(
        "ollama not ready, retrying",
        extra={
            "attempt": details.get("tries"),
            "wait_seconds": round(float(details.get("wait") or 0), 3),
            "error_kind": getattr(exc, "kind", type(exc).__name__),
        },
    )
