"""Settings turned into the plain values and the adapter the rest of coda is built from.

The only module that reads `Settings` for the LLM layer and picks an adapter: `coda.llm` knows no
configuration, and `coda.frontend` never imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from coda.config import Settings
from coda.frontend import Draining, ModelMenu, Pacing, Services
from coda.infrastructure import quotas
from coda.infrastructure.identity_token import SERVERLESS_AUTHORIZATION, IdentityTokenAuth
from coda.llm import ChatModel, GenerationOptions, PromptLimits, ServerConfig
from coda.llm.ollama import OllamaChatModel


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


def build_services(settings: Settings, chat_model: ChatModel) -> Services:
    """What the chat views use, all built here once."""
    return Services(
        chat_model=chat_model,
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
        presets=settings.presets,
        default_language=settings.default_language,
        model_notice=settings.model_notice,
        sign_out_link=settings.sign_out_link,
        max_body_bytes=settings.max_body_bytes,
        no_thinking_models=settings.no_thinking_models,
    )
