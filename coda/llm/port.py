"""The port: what the web tier may ask of a language model, whatever serves it."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

from coda.llm.types import Chunk, GenerationOptions, Health, Message


class ChatModel(Protocol):
    """A chat model behind some server; adapters implement it, views depend only on it."""

    @property
    def model(self) -> str:
        """The model's name as the server knows it, shown under each answer."""
        ...

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        """Stream an answer whose last chunk carries `usage`; closing it stops the generation.

        Raises `coda.llm.errors.LLMError` subclasses only, never a client library's exception; a
        stream that ends without usage is the adapter's to report (as an interruption), so callers
        may rely on seeing usage or an error.
        """
        ...

    def health(self) -> Health:
        """Say whether the server answers and has the model, without generating anything."""
        ...

    def preload(self, options: GenerationOptions) -> None:
        """Load the model as answers with `options` will use it, so no user waits for the load."""
        ...

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        ...
