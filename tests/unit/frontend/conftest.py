"""The app with a stub model, for tests about the web tier itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.config import Settings
from coda.infrastructure.app import create_app
from tests.support.stub_model import StubModel

SETTINGS = Settings(
    model="stub:1",
    log_format="text",
    secret_key="test-secret",
    max_message_chars=50,
    max_body_bytes=4096,
    heartbeat_seconds=0.5,
    loading_notice_seconds=0.3,
)


@pytest.fixture
def stub() -> StubModel:
    return StubModel()


@pytest.fixture
def app(stub: StubModel) -> Flask:
    app = create_app(SETTINGS, chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client
