"""Settings turned into the plain values and the adapter the rest of coda is built from.

The only module that reads `Settings` for the LLM layer and picks an adapter: `coda.llm` knows no
configuration, and `coda.frontend` never imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from coda.config import Settings
from coda.frontend import Draining, ModelMenu, Pacing, Services
from coda.frontend.attachments import Embedding
from coda.infrastructure import quotas
from coda.infrastructure.attachments import attachment_reader, upload_limits
from coda.infrastructure.identity_token import SERVERLESS_AUTHORIZATION, IdentityTokenAuth
from coda.llm import (
    ChatModel,
    EmbeddingModel,
    EmbeddingOptions,
    GenerationOptions,
    KnowledgeBase,
    PromptLimits,
    ServerConfig,
)
from coda.llm.ollama import OllamaChatModel
from coda.llm.ollama_embed import OllamaEmbeddingModel
from coda.llm.openai_embed import OpenAIEmbeddingModel


def server_config(settings: Settings) -> ServerConfig:
    """Where the model server is, and how long a call to it may take."""
    return settings.build(
        ServerConfig, url=settings.server_url, max_connections=settings.concurrency
    )


def generation_options(settings: Settings) -> GenerationOptions:
    """The configured sampling and length of every answer."""
    # Thinking is not a server-wide setting: each turn decides it from its model and preset.
    return settings.build(GenerationOptions, think=None)


def prompt_limits(settings: Settings) -> PromptLimits:
    """The size rules of one turn."""
    return settings.build(PromptLimits)


def _ollama(server: ServerConfig, settings: Settings, **wiring: Any) -> ChatModel:
    return OllamaChatModel(server, **wiring)


def _openai(server: ServerConfig, settings: Settings, **wiring: Any) -> ChatModel:
    # Imported only when chosen: the openai client adds some 16 MiB and 0.2 s to every worker.
    from coda.llm.openai import OpenAIChatModel

    return OpenAIChatModel(
        server,
        api_key=settings.openai_api_key,
        ask_usage=settings.openai_stream_usage,
        **wiring,
    )


@dataclass(frozen=True)
class Adapter:
    """How one provider (`coda.config.providers`) is built, and where its ID token travels: the
    OpenAI client sends its API key in `Authorization`, so there the token goes in
    `X-Serverless-Authorization`, which Cloud Run reads first and leaves `Authorization` to the
    server (vLLM's own key check)."""

    build: Callable[..., ChatModel]
    identity_header: str = "Authorization"


ADAPTERS = {
    "ollama": Adapter(_ollama),
    "openai": Adapter(_openai, identity_header=SERVERLESS_AUTHORIZATION),
}


def server_auth(settings: Settings) -> httpx.Auth | None:
    """An identity token on every call when the model server is a private Cloud Run service."""
    if settings.server_auth != "id-token":
        return None
    header = ADAPTERS[settings.provider].identity_header
    return IdentityTokenAuth(settings.server_token_audience, header=header)


def build_chat_model(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> ChatModel:
    """The adapter for the configured provider; `transport` lets tests replay a wire format."""
    adapter = ADAPTERS[settings.provider]
    return adapter.build(
        server_config(settings), settings, auth=server_auth(settings), transport=transport
    )


EMBEDDING_ADAPTERS: dict[str, Callable[..., EmbeddingModel]] = {
    "ollama": lambda server, settings, **wiring: OllamaEmbeddingModel(server, **wiring),
    "openai": lambda server, settings, **wiring: OpenAIEmbeddingModel(
        server, api_key=settings.openai_api_key, **wiring
    ),
}


def embedding_options(settings: Settings) -> EmbeddingOptions:
    """The embedding model's prefixes (each followed by a space: the variable's value is
    stripped) and batch size."""

    def spaced(prefix: str) -> str:
        return f"{prefix} " if prefix else ""

    return EmbeddingOptions(
        query_prefix=spaced(settings.embedding_query_prefix),
        passage_prefix=spaced(settings.embedding_passage_prefix),
        batch_size=settings.embedding_batch_size,
    )


def build_embedding_model(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float | None = None,
) -> EmbeddingModel:
    """The embedding adapter on the chat model's server (same provider, URL, auth and time
    limits), answering with `CODA_EMBEDDING_MODEL`.

    With `timeout` (a turn's question, `CODA_KNOWLEDGE_TIMEOUT_SECONDS`): one try, each wait
    bounded by it, since the answer goes on without passages rather than wait for them.
    """
    server = replace(server_config(settings), model=settings.embedding_model)
    if timeout is not None:
        server = replace(
            server,
            connect_timeout=min(server.connect_timeout, timeout),
            first_token_timeout=timeout,
            total_timeout=timeout,
            retry_attempts=1,
            retry_max_seconds=0.0,
        )
    build = EMBEDDING_ADAPTERS[settings.provider]
    return build(server, settings, auth=server_auth(settings), transport=transport)


def build_services(
    settings: Settings, chat_model: ChatModel, knowledge: KnowledgeBase | None = None
) -> Services:
    """What the chat views use, all built here once. Without a knowledge base, the presets that
    search one are not offered (the shipped `documents`; an operator's own stop start-up)."""
    return Services(
        chat_model=chat_model,
        knowledge=knowledge,
        knowledge_tokens=settings.knowledge_tokens,
        models=ModelMenu(settings.model, settings.allowed_models),
        options=generation_options(settings),
        limits=prompt_limits(settings),
        pacing=Pacing(
            settings.heartbeat_seconds,
            settings.loading_notice_seconds,
            settings.live_format_ms / 1000,
        ),
        draining=Draining(settings.shutdown_grace_seconds),
        gate=quotas.build_gate(settings),
        system_prompt=settings.system_prompt,
        presets=settings.presets if knowledge else settings.presets.without_knowledge(),
        default_language=settings.default_language,
        model_notice=settings.model_notice,
        sign_out_link=settings.sign_out_link,
        max_body_bytes=settings.max_body_bytes,
        no_thinking_models=settings.no_thinking_models,
        read_attachment=attachment_reader(settings),
        embedding=attachment_embedding(settings),
        attachment_max_bytes=upload_limits(settings).max_bytes,
        attachment_storage_bytes=settings.attachment_storage_mb * 1_000_000,
        knowledge_top_k=settings.knowledge_top_k,
        knowledge_min_score=settings.knowledge_min_score,
    )


def attachment_embedding(settings: Settings) -> Embedding | None:
    """What embeds a long attached file and each question about it: `CODA_EMBEDDING_MODEL` on
    the chat model's server, or None without one."""
    if not settings.embedding_model:
        return None
    return Embedding(
        model=build_embedding_model(settings),
        query_model=build_embedding_model(settings, timeout=settings.knowledge_timeout_seconds),
        options=embedding_options(settings),
    )
