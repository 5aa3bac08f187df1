"""Adapters and apps over the session's real Ollama, built per test and closed after it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from coda.infrastructure.app import create_app
from coda.infrastructure.bootstrap import build_chat_model
from coda.llm import ChatModel
from tests.support.factories import AppFactory, ModelFactory
from tests.support.settings import make_settings


@pytest.fixture
def opened_models() -> Iterator[list[ChatModel]]:
    """Every adapter a test builds; their connection pools are closed when it ends."""
    models: list[ChatModel] = []
    yield models
    for model in models:
        model.close()


@pytest.fixture
def chat_model(opened_models: list[ChatModel]) -> ModelFactory:
    """The real adapter, built as the app builds it, from `make_settings` arguments."""

    def build(host: str, **overrides: Any) -> ChatModel:
        opened_models.append(build_chat_model(make_settings(host, **overrides)))
        return opened_models[-1]

    return build


@pytest.fixture
def make_app(chat_model: ModelFactory) -> AppFactory:
    """The app over the real adapter, CSRF off: these tests are about the model, not the form."""

    def make(host: str, **overrides: Any) -> Flask:
        settings = make_settings(host, secret_key="k", **overrides)
        app = create_app(settings, chat_model=chat_model(host, **overrides))
        app.config["WTF_CSRF_ENABLED"] = False
        return app

    return make
