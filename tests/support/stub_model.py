"""A `ChatModel` for unit tests of the web tier only: it behaves like the port, never like Ollama.

It yields scripted chunks, raises our `LLMError`s where told, and records that its generator was
closed, as the real adapter's closing stops Ollama. Anything about Ollama itself is tested against
the real server in tests/integration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

from coda.llm import Chunk, GenerationOptions, Health, LLMError, Message, Usage

USAGE = Usage(
    model="stub:1",
    prompt_tokens=12,
    completion_tokens=3,
    tokens_per_second=42.5,
    load_seconds=0.0,
    total_seconds=0.1,
    done_reason="stop",
)


@dataclass
class StubModel:
    """Scripted answers: `texts` one chunk each, then usage, or `error` after them."""

    texts: list[str] = field(default_factory=lambda: ["こんにちは", "、世界"])
    error: LLMError | None = None
    first_delay: float = 0.0
    delay: float = 0.0
    health_result: Health = field(default_factory=lambda: Health(True, True))
    received: list[list[Message]] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    health_calls: int = 0
    preloaded: threading.Event = field(default_factory=threading.Event)

    @property
    def model(self) -> str:
        return "stub:1"

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        self.received.append(list(messages))
        try:
            time.sleep(self.first_delay)
            for text in self.texts:
                yield Chunk(text)
                time.sleep(self.delay)
            if self.error is not None:
                raise self.error
            yield Chunk("", USAGE)
        finally:
            self.closed.set()

    def health(self) -> Health:
        self.health_calls += 1
        return self.health_result

    def preload(self, options: GenerationOptions) -> None:
        self.preloaded.set()

    def close(self) -> None:
        """Nothing pooled to release."""
