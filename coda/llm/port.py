"""The port: what the web tier may ask of a language model, whatever serves it."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

from coda.llm.types import Chunk, GenerationOptions, Message


class ChatModel(Protocol):
    """One model on some server; adapters implement it, views depend only on it.

    The model is part of the object, not an argument of each call: `with_model` gives the same
    server (its connections, auth and time limits) answering with another model. So a turn is
    handed exactly the model it runs on, and everything that only ever uses one model (the reader
    of an answer, the warm-up) never hears of the choice.
    """

    @property
    def model(self) -> str:
        """The model's name as the server knows it."""
        ...

    def with_model(self, name: str) -> ChatModel:
        """The same server and connections, answering with the model `name`."""
        ...

    def list_models(self) -> list[str]:
        """Every name the server answers to, without generating anything.

        Raises `coda.llm.errors.LLMError` when the server cannot be asked.
        """
        ...

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        """Stream an answer whose last chunk carries `usage`; closing it stops the generation.

        Raises `coda.llm.errors.LLMError` subclasses only, never a client library's exception; a
        stream the server ends before saying the answer is finished is the adapter's to report
        (`EndedEarlyError`), so callers may rely on seeing usage (the server's counts, or an
        estimate labelled so) or an error. Chunks may carry `thinking` before any text.
        """
        ...

    def preload(self, options: GenerationOptions) -> None:
        """Load the model as answers with `options` will use it, so no user waits for the load."""
        ...

    def close(self) -> None:
        """Release pooled connections (at worker exit); shared with every `with_model` sibling."""
        ...


class EmbeddingModel(Protocol):
    """One embedding model on some server, beside `ChatModel`: the knowledge base's indexer and
    each turn's retrieval depend only on this.

    One call is one request: prefixes and batching are `coda.llm.embedding`'s, the same for
    every adapter.
    """

    @property
    def model(self) -> str:
        """The model's name as the server knows it (stored in the index, checked at start)."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, as the server computed them (any length).

        Retried like a chat answer's start while the server is unreachable or busy. Raises
        `coda.llm.errors.LLMError` subclasses only: `CannotEmbedError` when the model is a chat
        model or the server serves no embeddings.
        """
        ...

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        ...
