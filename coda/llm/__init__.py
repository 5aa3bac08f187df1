"""The LLM port: types, the `ChatModel` protocol, errors and prompt building, standard library only.

Adapters sit beside the port, one module each (`coda.llm.ollama`); only the composition root
(`coda.infrastructure`) imports them.
"""

from coda.llm.errors import (
    BusyError,
    LLMError,
    LLMTimeoutError,
    ModelNotFoundError,
    RejectedError,
    StreamInterruptedError,
    UnavailableError,
)
from coda.llm.port import ChatModel
from coda.llm.prompt import PromptLimits, build_messages, estimate_tokens, history_budget
from coda.llm.types import (
    Chunk,
    GenerationOptions,
    Health,
    Message,
    Role,
    ServerConfig,
    Usage,
)

__all__ = [
    "BusyError",
    "ChatModel",
    "Chunk",
    "GenerationOptions",
    "Health",
    "LLMError",
    "LLMTimeoutError",
    "Message",
    "ModelNotFoundError",
    "PromptLimits",
    "RejectedError",
    "Role",
    "ServerConfig",
    "StreamInterruptedError",
    "UnavailableError",
    "Usage",
    "build_messages",
    "estimate_tokens",
    "history_budget",
]
