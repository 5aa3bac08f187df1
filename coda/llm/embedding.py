"""Embeddings: what the knowledge base asks of a model server, beside the chat port.

The port is `coda.llm.port.EmbeddingModel` (one request, raw texts); this module holds what every
adapter would otherwise repeat: the model's own query and passage prefixes (E5's `query: ` and
`passage: `, Ruri's `クエリ: ` and `文章: `, nothing for MiniLM), batching, and the checks on what a
server sends back (one vector per text, all of one dimension). Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coda.llm.errors import RejectedError
from coda.llm.port import EmbeddingModel

Vector = list[float]


@dataclass(frozen=True, kw_only=True)
class EmbeddingOptions:
    """How texts are sent: `query_prefix` before a question, `passage_prefix` before a passage,
    at most `batch_size` texts a request (a request of hundreds of chunks would outlast any
    timeout on a CPU server)."""

    query_prefix: str = ""
    passage_prefix: str = ""
    batch_size: int = 32


def embed_passages(
    model: EmbeddingModel,
    texts: Sequence[str],
    options: EmbeddingOptions,
    *,
    on_batch: Callable[[int], None] = lambda done: None,
) -> list[Vector]:
    """One unit-length vector per passage, in order; `on_batch(n)` after each request, with the
    number of texts embedded so far (the indexer's progress).

    Raises `coda.llm.errors.LLMError` (`CannotEmbedError` for a chat-only model), or
    `RejectedError` when the server's answer is malformed (a count or a dimension that differs).
    """
    vectors: list[Vector] = []
    size = max(1, options.batch_size)
    for start in range(0, len(texts), size):
        batch = [options.passage_prefix + text for text in texts[start : start + size]]
        vectors.extend(_checked(model.embed(batch), len(batch), model.model))
        on_batch(len(vectors))
    dimensions = {len(v) for v in vectors}
    if len(dimensions) > 1:
        raise RejectedError(f"{model.model} answered vectors of dimensions {sorted(dimensions)}")
    return vectors


def embed_query(model: EmbeddingModel, text: str, options: EmbeddingOptions) -> Vector:
    """The unit-length vector of a question, with the model's query prefix."""
    return _checked(model.embed([options.query_prefix + text]), 1, model.model)[0]


def normalized(vector: Sequence[float]) -> Vector:
    """`vector` scaled to unit length, so a dot product is the cosine; zero stays zero."""
    length = math.sqrt(math.fsum(x * x for x in vector))
    return [x / length for x in vector] if length > 0 else list(vector)


def _checked(vectors: list[Vector], expected: int, model: str) -> list[Vector]:
    if len(vectors) != expected:
        raise RejectedError(f"{model} answered {len(vectors)} vectors for {expected} texts")
    if any(not v or not all(math.isfinite(x) for x in v) for v in vectors):
        raise RejectedError(f"{model} answered an empty or non-finite vector")
    return [normalized(v) for v in vectors]
