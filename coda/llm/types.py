"""The LLM layer's own data: small frozen values, so no client type leaks past the adapter."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    """Sampling and length limits for one answer; callers vary fields with `dataclasses.replace`."""

    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    context_length: int
    seed: int | None = None
    # None: the model's own habit. False: asked not to think first (Ollama's `think`; Qwen3's
    # `enable_thinking` through vLLM's and llama.cpp's `chat_template_kwargs`).
    think: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Where an adapter finds its model server and how long it may wait: every wait is bounded.

    `first_token_timeout` bounds any silence, loading the model included; `total_timeout` one whole
    answer. Retries happen only before the first token, within `retry_attempts` and
    `retry_max_seconds`. `max_connections` sizes the pool: one per answer streaming at once.
    """

    url: str
    model: str
    connect_timeout: float
    first_token_timeout: float
    total_timeout: float
    retry_attempts: int
    retry_max_seconds: float
    max_connections: int


class SpeedSource(StrEnum):
    """Whose clock the tokens per second come from: the server's, or ours when it reports none."""

    SERVER = "server"
    MEASURED = "measured"


class TokenSource(StrEnum):
    """Whose token counts these are: the server's, or coda's estimate when it sent none.

    Several OpenAI-compatible servers ignore `stream_options.include_usage`; their answers are
    complete all the same, and their counts are estimated (`coda.llm.prompt.estimate_tokens` for
    the prompt, one token per streamed piece for the answer) and labelled so wherever shown.
    """

    SERVER = "server"
    ESTIMATED = "estimated"


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What the server reports at the end of an answer: shown under it, and logged.

    `model` is the name the server answered with. A server that times its own generation (Ollama)
    gives the speed; one that reports token counts only leaves the adapter to measure it
    (`speed_source`) and has no load time to report (`load_seconds` is None). `attempts` is the
    adapter's own figure: how often the request was sent before its first chunk came (retries
    are `attempts - 1`).
    """

    model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_per_second: float | None
    load_seconds: float | None
    total_seconds: float
    done_reason: str
    speed_source: SpeedSource = SpeedSource.SERVER
    attempts: int = 1
    token_source: TokenSource = TokenSource.SERVER


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer; the last one carries `usage` (and usually no text).

    `thinking` is reasoning a thinking model writes before its answer (Ollama's
    `message.thinking`, OpenAI-compatible servers' `delta.reasoning_content` or
    `delta.reasoning`): shown apart from the answer, never sent back as history.
    """

    text: str = ""
    usage: Usage | None = None
    thinking: str = ""
