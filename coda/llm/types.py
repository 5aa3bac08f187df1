"""The LLM layer's own data: small frozen values, so no client type leaks past the adapter."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coda.config import Settings


class Role(StrEnum):
    """Who said a message; `system` is only ever written by the server."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True, kw_only=True)
class GenerationOptions:
    """Sampling and length limits for one answer."""

    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    context_length: int
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerationOptions:
        """The configured defaults; callers override single fields with `dataclasses.replace`."""
        return cls(
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            max_tokens=settings.max_tokens,
            context_length=settings.context_length,
            seed=settings.seed,
        )


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What the server reports at the end of an answer: shown under it, and logged."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_per_second: float | None
    load_seconds: float
    total_seconds: float
    done_reason: str


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer; the last one carries `usage` (and usually no text)."""

    text: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class Health:
    """Whether the LLM server answers and has our model, with the reason when not."""

    reachable: bool
    model_present: bool
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.reachable and self.model_present
