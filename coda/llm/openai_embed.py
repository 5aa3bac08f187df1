"""The OpenAI-compatible embedding adapter: `POST {base}/embeddings` over plain httpx.

Beside `coda.llm.openai` (the chat adapter), with its error mapping's shape. Plain httpx rather
than the `openai` client: one small JSON request needs none of its streaming, the client would
ask for base64 vectors by default (`encoding_format`), and importing it costs every worker some
16 MiB. Its traps:
- `encoding_format: "float"` is always sent: vLLM, llama.cpp and Ollama's `/v1` all take it.
- The answer's `data` may come in any order: each item's `index` says whose vector it is.
- A chat model is refused in each server's own way (Ollama 501, llama.cpp 501 without
  `--embeddings`, vLLM 400 "does not support Embeddings API"): `CannotEmbedError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from coda.llm.errors import LLMError, RejectedError
from coda.llm.server_errors import embedding_error_for_status, error_for_transport
from coda.llm.types import ServerConfig
from coda.llm.upstream import TRANSPORT_FAILURES, ModelOnServer, call_with_retry, stream_timeout

# How much of a server's error body the log keeps (the chat adapter's figure).
MAX_REASON_CHARS = 500


class OpenAIEmbeddingModel(ModelOnServer):
    """`EmbeddingModel` served by any OpenAI-compatible `/v1/embeddings`."""

    def __init__(
        self,
        server: ServerConfig,
        *,
        api_key: str = "",
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`server.url` is the base URL, `/v1` included; `api_key` the bearer token, if any."""
        self._server = server
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=server.url.rstrip("/") + "/",
            timeout=stream_timeout(server),
            headers=headers,
            auth=auth,
            transport=transport,
        )

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        self._http.close()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; see `coda.llm.port.EmbeddingModel`."""

        def call() -> list[list[float]]:
            response = self._http.post(
                "embeddings",
                json={"model": self.model, "input": list(texts), "encoding_format": "float"},
            )
            if response.status_code >= 400:
                reason = response.text[:MAX_REASON_CHARS]
                raise embedding_error_for_status(
                    response.status_code,
                    f"server {response.status_code}: {reason}",
                    model=self.model,
                )
            return _vectors(response.json(), len(texts))

        return call_with_retry(
            call, translate=self._translate, failures=TRANSPORT_FAILURES, server=self._server
        )

    def _translate(self, exc: Exception, sent_text: bool) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        return error_for_transport(exc, sent_text=sent_text)


def _vectors(body: Any, expected: int) -> list[list[float]]:
    """`data[*].embedding`, put in the order of `data[*].index`."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != expected:
        raise RejectedError(f"embeddings answer holds no data list of {expected} items")
    ordered: list[list[float]] = [[] for _ in items]
    for position, item in enumerate(items):
        index = item.get("index", position) if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < expected or not isinstance(vector, list):
            raise RejectedError(f"embeddings answer item {position} is malformed")
        ordered[index] = [float(x) for x in vector]
    return ordered
