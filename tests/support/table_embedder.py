"""An `EmbeddingModel` for unit tests of the web tier: each text's vector from a function the
test gives, or an `LLMError` raised where the test asks. What a real model embeds is tested in
tests/integration (MiniLM on Ollama)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coda.llm import LLMError


@dataclass
class TableEmbedder:
    """Vectors from `vector_of(text)`; `error` raised instead when set; `asked` every text."""

    vector_of: Callable[[str], list[float]]
    error: LLMError | None = None
    asked: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return "embed:1"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.asked.extend(texts)
        if self.error is not None:
            raise self.error
        return [self.vector_of(text) for text in texts]

    def close(self) -> None:
        pass
