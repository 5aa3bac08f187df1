"""The LLM port: types, the `ChatModel` protocol, errors and prompt building, standard library only.

Adapters sit beside the port, one module each (`coda.llm.ollama`), with what they share in
`coda.llm.upstream`; only the composition root (`coda.infrastructure`) imports them.
"""

from coda.llm.embedding import EmbeddingOptions, embed_passages, embed_query
from coda.llm.errors import (
    BusyError,
    CannotEmbedError,
    EndedEarlyError,
    LLMError,
    LLMTimeoutError,
    ModelCannotLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    RejectedError,
    ServerAuthError,
    StreamInterruptedError,
    UnavailableError,
)
from coda.llm.port import ChatModel, EmbeddingModel
from coda.llm.prompt import (
    PromptLimits,
    build_messages,
    estimate_tokens,
    history_budget,
    without_older_turns,
)
from coda.llm.retrieval import (
    KnowledgeBase,
    Source,
    SourcesFrame,
    WholeFile,
    fit_sources,
    question_with_sources,
)
from coda.llm.types import (
    Chunk,
    GenerationOptions,
    Message,
    Role,
    ServerConfig,
    SpeedSource,
    TokenSource,
    Usage,
)

__all__ = [
    "BusyError",
    "CannotEmbedError",
    "ChatModel",
    "Chunk",
    "EmbeddingModel",
    "EmbeddingOptions",
    "EndedEarlyError",
    "GenerationOptions",
    "KnowledgeBase",
    "LLMError",
    "LLMTimeoutError",
    "Message",
    "ModelCannotLoadError",
    "ModelNotFoundError",
    "PromptLimits",
    "PromptTooLongError",
    "RejectedError",
    "Role",
    "ServerAuthError",
    "ServerConfig",
    "Source",
    "SourcesFrame",
    "SpeedSource",
    "StreamInterruptedError",
    "TokenSource",
    "UnavailableError",
    "Usage",
    "WholeFile",
    "build_messages",
    "embed_passages",
    "embed_query",
    "estimate_tokens",
    "fit_sources",
    "history_budget",
    "question_with_sources",
    "without_older_turns",
]
