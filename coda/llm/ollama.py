"""The Ollama adapter: the official `ollama` client behind our `ChatModel` port.

The client has traps this module exists to absorb:
- `chat(stream=True)` returns a lazy generator: nothing is sent, and nothing can fail, until the
  first chunk is read. So the retry wraps "open and read the first chunk", never the whole answer
  (`coda.llm.upstream.stream_answer`).
- While streaming, httpx's own exceptions escape instead of the client's `ConnectionError`.
- `timeout=None` means "wait forever": we always pass an explicit `httpx.Timeout`.
- An `{"error": ...}` line can arrive inside a 200 stream; the client raises `ResponseError` with
  status -1 for it.
- A full queue is a 503, a missing model a 404, both as `ResponseError`.
- Closing our generator closes the client's, which closes the HTTP response; Ollama sees the
  connection drop and stops generating.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

import httpx
import ollama

from coda.llm.errors import LLMError
from coda.llm.server_errors import error_for_status, error_for_transport, error_in_stream
from coda.llm.types import Chunk, GenerationOptions, Message, ServerConfig, Usage
from coda.llm.upstream import (
    TRANSPORT_FAILURES,
    ModelOnServer,
    client_options,
    control_timeout,
    stream_answer,
    stream_limits,
    stream_timeout,
)

SERVER_FAILURES = (*TRANSPORT_FAILURES, ollama.ResponseError, ollama.RequestError)
NANOS = 1e9


class OllamaChatModel(ModelOnServer):
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
        extra = client_options(auth, transport)
        self._client = ollama.Client(
            host=server.url, timeout=stream_timeout(server), limits=stream_limits(server), **extra
        )
        self._control = ollama.Client(host=server.url, timeout=control_timeout(server), **extra)

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        self._client.close()  # type: ignore[no-untyped-call]
        self._control.close()  # type: ignore[no-untyped-call]

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        """Stream an answer; see the module docstring for how failures and closing behave."""
        payload = [{"role": m.role.value, "content": m.content} for m in messages]

        def send() -> Iterator[ollama.ChatResponse]:
            return self._client.chat(
                model=self.model,
                messages=payload,
                options=to_ollama_options(options),
                stream=True,
                think=options.think,
            )

        return stream_answer(
            send,
            lambda part: _to_chunk(part, self.model),
            translate=self._translate,
            failures=SERVER_FAILURES,
            server=self._server,
        )

    def list_models(self) -> list[str]:
        """`/api/tags`; a `name:latest` answers to `name` too, as Ollama resolves a bare name."""
        try:
            listed = self._control.list()
        except SERVER_FAILURES as exc:
            raise self._translate(exc, False) from exc
        names = [m.model for m in listed.models if m.model]
        return names + [n.removesuffix(":latest") for n in names if n.endswith(":latest")]

    def preload(self, options: GenerationOptions) -> None:
        """An empty chat loads the model with the same context size real requests use.

        Ollama reloads a model whose `num_ctx` changes, so a preload with other options would be
        wasted: it must send the options every answer sends.
        """
        try:
            self._client.chat(model=self.model, messages=[], options=to_ollama_options(options))
        except SERVER_FAILURES as exc:
            raise self._translate(exc, False) from exc

    def _translate(self, exc: Exception, sent_text: bool) -> LLMError:
        """Map the client's exceptions, and httpx's, to ours: the one place that knows both."""
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, ollama.ResponseError):
            detail = f"ollama {exc.status_code}: {exc.error}"
            if exc.status_code == -1:  # an error line inside a 200 stream
                return error_in_stream(detail, sent_text=sent_text)
            return error_for_status(exc.status_code, detail, model=self.model)
        return error_for_transport(exc, sent_text=sent_text)


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
    thinking = part.message.thinking or ""
    if not part.done:
        return Chunk(text, thinking=thinking)
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
    return Chunk(text, usage, thinking=thinking)
