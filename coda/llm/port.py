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
        """Stream an answer; closing the generator must stop the generation upstream.

        Raises `coda.llm.errors.LLMError` subclasses only, never a client library's exception.
        """
        ...

    def health(self) -> Health:
        """Say whether the server answers and has the model, without generating anything."""
        ...

    def preload(self) -> None:
        """Load the model into memory so the first user does not wait for a cold start."""
        ...
