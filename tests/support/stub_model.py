"""A `ChatModel` for unit tests of the web tier only: it behaves like the port, never like Ollama.

It yields scripted chunks, raises our `LLMError`s where told, and records that its generator was
closed, as the real adapter's closing stops Ollama. Anything about Ollama itself is tested against
the real server in tests/integration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace

from coda.llm import Chunk, GenerationOptions, LLMError, Message, PromptTooLongError, Usage

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
    """Scripted answers: `texts` one chunk each, then usage, or `error` after them.

    `with_model` gives a sibling that shares everything recorded (`received`, `asked`, the events)
    and answers with the other name, as the real adapters share their connections.
    """

    texts: list[str] = field(default_factory=lambda: ["こんにちは", "、世界"])
    # The usage the last chunk carries (its model is always the one asked).
    usage: Usage = USAGE
    # Reasoning a thinking model streams before its answer, one chunk each.
    thoughts: list[str] = field(default_factory=list)
    # The options each answer was asked with, in order.
    options_seen: list[GenerationOptions] = field(default_factory=list)
    error: LLMError | None = None
    # Prompts of more messages are refused as longer than the window, as vLLM and llama.cpp do.
    max_messages: int | None = None
    first_delay: float = 0.0
    delay: float = 0.0
    name: str = "stub:1"
    # What the server "has", or the error listing it fails with.
    listed: list[str] = field(default_factory=lambda: ["stub:1"])
    list_error: LLMError | None = None
    received: list[list[Message]] = field(default_factory=list)
    # The model each answer was asked of, in order.
    asked: list[str] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    list_calls: list[int] = field(default_factory=list)
    preloaded: threading.Event = field(default_factory=threading.Event)

    @property
    def model(self) -> str:
        return self.name

    def with_model(self, name: str) -> StubModel:
        return replace(self, name=name)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        self.received.append(list(messages))
        self.asked.append(self.name)
        self.options_seen.append(options)
        if self.max_messages is not None and len(messages) > self.max_messages:
            self.closed.set()
            raise PromptTooLongError(f"{len(messages)} messages: maximum context length exceeded")
        try:
            time.sleep(self.first_delay)
            for thought in self.thoughts:
                yield Chunk(thinking=thought)
                time.sleep(self.delay)
            for text in self.texts:
                yield Chunk(text)
                time.sleep(self.delay)
            if self.error is not None:
                raise self.error
            yield Chunk("", replace(self.usage, model=self.name))
        finally:
            self.closed.set()

    def list_models(self) -> list[str]:
        self.list_calls.append(1)
        if self.list_error is not None:
            raise self.list_error
        return list(self.listed)

    def preload(self, options: GenerationOptions) -> None:
        self.preloaded.set()

    def close(self) -> None:
        """Nothing pooled to release."""
