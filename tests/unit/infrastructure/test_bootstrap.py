"""The composition root turns settings into plain values and picks the adapter and its auth."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import httpx
import pytest

import coda
from coda.config import Settings
from coda.infrastructure import bootstrap
from coda.infrastructure.identity_token import IdentityTokenAuth
from coda.llm import GenerationOptions, PromptLimits, ServerConfig
from coda.llm.ollama import OllamaChatModel
from coda.llm.openai import OpenAIChatModel
from tests.support.stub_model import StubModel

SETTINGS = Settings(model="stub:1", log_format="text", secret_key="k")
AUDIENCE = "https://ollama-abc123-an.a.run.app"


def test_settings_become_the_llm_layers_own_values() -> None:
    settings = replace(SETTINGS, temperature=0.2, max_tokens=64, seed=7, retry_attempts=2)

    assert bootstrap.generation_options(settings) == GenerationOptions(
        temperature=0.2, top_p=0.8, top_k=20, max_tokens=64, context_length=8192, seed=7
    )
    assert bootstrap.prompt_limits(settings) == PromptLimits(
        max_message_chars=4000,
        max_history_messages=40,
        max_history_chars=32000,
        context_length=8192,
        max_tokens=64,
    )
    server = bootstrap.server_config(settings)
    assert isinstance(server, ServerConfig)
    assert (server.url, server.model, server.retry_attempts) == (
        "http://127.0.0.1:11434",
        "stub:1",
        2,
    )


def test_no_auth_by_default() -> None:
    assert bootstrap.server_auth(SETTINGS) is None


def test_id_token_auth_targets_the_configured_audience_else_the_host() -> None:
    private = replace(SETTINGS, ollama_host=AUDIENCE, server_auth="id-token")
    custom = replace(private, server_audience="https://custom.example")

    default_auth = bootstrap.server_auth(private)
    custom_auth = bootstrap.server_auth(custom)

    assert isinstance(default_auth, IdentityTokenAuth)
    assert default_auth.audience == AUDIENCE
    assert isinstance(custom_auth, IdentityTokenAuth)
    assert custom_auth.audience == "https://custom.example"


def test_the_app_builds_the_ollama_adapter_with_the_identity_token_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, str]] = []
    marker = httpx.BasicAuth("u", "p")

    def fake_auth(audience: str, *, header: str = "Authorization") -> httpx.Auth:
        asked.append((audience, header))
        return marker

    monkeypatch.setattr(bootstrap, "IdentityTokenAuth", fake_auth)
    settings = replace(SETTINGS, ollama_host="https://ollama.example", server_auth="id-token")

    app = coda.create_app(settings)

    model = app.extensions["coda"].chat_model
    model.close()
    assert asked == [("https://ollama.example", "Authorization")]
    assert isinstance(model, OllamaChatModel)


def test_the_openai_provider_gets_its_adapter_with_the_token_beside_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, str]] = []

    def fake_auth(audience: str, *, header: str = "Authorization") -> httpx.Auth:
        asked.append((audience, header))
        return httpx.BasicAuth("u", "p")

    monkeypatch.setattr(bootstrap, "IdentityTokenAuth", fake_auth)
    settings = replace(
        SETTINGS,
        provider="openai",
        openai_base_url="https://vllm.example/v1",
        openai_api_key="sk-k",
        server_auth="id-token",
    )

    app = coda.create_app(settings)

    model = app.extensions["coda"].chat_model
    model.close()
    assert isinstance(model, OpenAIChatModel)
    assert bootstrap.server_config(settings).url == "https://vllm.example/v1"
    assert asked == [("https://vllm.example", "X-Serverless-Authorization")]


def test_the_openai_client_is_loaded_only_for_the_openai_provider() -> None:
    code = (
        "import sys, coda; from coda.config import Settings;"
        " coda.create_app(Settings(log_format='text', secret_key='k'));"
        " print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip().splitlines()[-1] == "False"  # after the start-up log lines


def test_the_views_bundle_holds_what_they_use_and_no_secret() -> None:
    settings = replace(
        SETTINGS,
        provider="openai",
        openai_base_url="http://vllm.example/v1",
        openai_api_key="sk-never-in-the-bundle",
        model_notice="small",
    )
    bundle = bootstrap.build_services(settings, StubModel())

    assert not any(isinstance(value, Settings) for value in vars(bundle).values())
    assert "sk-never-in-the-bundle" not in repr(vars(bundle))
    assert bundle.model_notice == "small"
    assert bundle.options == bootstrap.generation_options(settings)
