"""Settings turned into the plain values and the adapter the rest of coda is built from.

The only module that reads `Settings` for the LLM layer and picks an adapter: `coda.llm` knows no
configuration, and `coda.frontend` never imports an adapter.
"""

from __future__ import annotations

import httpx

from coda.config import Settings
from coda.frontend import Draining, ModelMenu, Pacing, Services
from coda.infrastructure.identity_token import SERVERLESS_AUTHORIZATION, IdentityTokenAuth
from coda.llm import ChatModel, GenerationOptions, PromptLimits, ServerConfig
from coda.llm.ollama import OllamaChatModel


def server_config(settings: Settings) -> ServerConfig:
    """Where the model server is, and how long a call to it may take."""
    return ServerConfig(
        url=settings.server_url,
        model=settings.model,
        connect_timeout=settings.connect_timeout,
        first_token_timeout=settings.first_token_timeout,
        total_timeout=settings.total_timeout,
        retry_attempts=settings.retry_attempts,
        retry_max_seconds=settings.retry_max_seconds,
        max_connections=settings.concurrency,
    )


def generation_options(settings: Settings) -> GenerationOptions:
    """The configured sampling and length of every answer."""
    return GenerationOptions(
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=settings.top_k,
        max_tokens=settings.max_tokens,
        context_length=settings.context_length,
        seed=settings.seed,
    )


def prompt_limits(settings: Settings) -> PromptLimits:
    """The size rules of one turn."""
    return PromptLimits(
        max_message_chars=settings.max_message_chars,
        max_history_messages=settings.max_history_messages,
        max_history_chars=settings.max_history_chars,
        context_length=settings.context_length,
        max_tokens=settings.max_tokens,
    )


def server_auth(settings: Settings) -> httpx.Auth | None:
    """An identity token on every call when the model server is a private Cloud Run service.

    The OpenAI client sends its API key in `Authorization`, so there the token goes in
    `X-Serverless-Authorization`, which Cloud Run reads first and which leaves `Authorization` to
    the server (vLLM's own key check).
    """
    if settings.server_auth != "id-token":
        return None
    if settings.provider == "openai":
        return IdentityTokenAuth(settings.server_token_audience, header=SERVERLESS_AUTHORIZATION)
    return IdentityTokenAuth(settings.server_token_audience)


def build_chat_model(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> ChatModel:
    """The adapter for the configured provider; `transport` lets tests replay a wire format."""
    server, auth = server_config(settings), server_auth(settings)
    if settings.provider == "openai":
        # Imported only when chosen: the openai client adds some 16 MiB and 0.2 s to every worker.
        from coda.llm.openai import OpenAIChatModel

        return OpenAIChatModel(
            server,
            api_key=settings.openai_api_key,
            auth=auth,
            transport=transport,
            ask_usage=settings.openai_stream_usage,
        )
    return OllamaChatModel(server, auth=auth, transport=transport)


def build_services(settings: Settings, chat_model: ChatModel) -> Services:
    """What the chat views use, all built here once."""
    return Services(
        settings=settings,
        chat_model=chat_model,
        models=ModelMenu(settings.model, settings.allowed_models),
        options=generation_options(settings),
        limits=prompt_limits(settings),
        pacing=Pacing(settings.heartbeat_seconds, settings.loading_notice_seconds),
        draining=Draining(settings.shutdown_grace_seconds),
    )
