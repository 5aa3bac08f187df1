"""The Ollama embedding adapter: `/api/embed` through the official `ollama` client.

Beside `coda.llm.ollama` (the chat adapter), with its error mapping's shape. Its traps:
- `embed` with `timeout=None` would wait forever: an explicit `httpx.Timeout` is always passed
  (the first-token timeout bounds the whole request, loading the model included).
- A chat model asked to embed is refused with 501 "this model does not support embeddings":
  `CannotEmbedError`, never retried.
- Ollama truncates an input longer than the model's window by default (`truncate` unset); the
  chunker keeps passages well below it, so nothing is cut in practice.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import ollama

from coda.llm.errors import LLMError
from coda.llm.server_errors import embedding_error_for_status, error_for_transport
from coda.llm.types import ServerConfig
from coda.llm.upstream import (
    TRANSPORT_FAILURES,
    ModelOnServer,
    call_with_retry,
    client_options,
    stream_timeout,
)

SERVER_FAILURES = (*TRANSPORT_FAILURES, ollama.ResponseError, ollama.RequestError)


class OllamaEmbeddingModel(ModelOnServer):
    """`EmbeddingModel` served by Ollama's `/api/embed` (many texts a request)."""

    def __init__(
        self,
        server: ServerConfig,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`server.model` is the embedding model; `auth` as for chat (Cloud Run's ID token)."""
        self._server = server
        extra = client_options(auth, transport)
        self._client = ollama.Client(host=server.url, timeout=stream_timeout(server), **extra)

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        self._client.close()  # type: ignore[no-untyped-call]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; see `coda.llm.port.EmbeddingModel`."""

        def call() -> list[list[float]]:
            answer = self._client.embed(model=self.model, input=list(texts))
            return [list(vector) for vector in answer.embeddings]

        return call_with_retry(
            call, translate=self._translate, failures=SERVER_FAILURES, server=self._server
        )

    def _translate(self, exc: Exception, sent_text: bool) -> LLMError:
        """The client's exceptions, and httpx's, as ours (the chat adapter's shape)."""
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, ollama.ResponseError):
            detail = f"ollama {exc.status_code}: {exc.error}"
            return embedding_error_for_status(exc.status_code, detail, model=self.model)
        return error_for_transport(exc, sent_text=sent_text)
