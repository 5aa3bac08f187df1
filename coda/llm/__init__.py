"""The LLM port (types, protocol, errors, prompt building); adapters live in their own modules."""

from coda.llm.errors import (
    BusyError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ModelNotFoundError,
    StreamInterruptedError,
    UnavailableError,
)
from coda.llm.port import ChatModel
from coda.llm.prompt import PromptLimits, build_messages, estimate_tokens, parse_history
from coda.llm.types import Chunk, GenerationOptions, Health, Message, Role, Usage

__all__ = [
    "BusyError",
    "ChatModel",
    "Chunk",
    "GenerationOptions",
    "Health",
    "InvalidRequestError",
    "LLMError",
    "LLMTimeoutError",
    "Message",
    "ModelNotFoundError",
    "PromptLimits",
    "Role",
    "StreamInterruptedError",
    "UnavailableError",
    "Usage",
    "build_messages",
    "estimate_tokens",
    "parse_history",
]
