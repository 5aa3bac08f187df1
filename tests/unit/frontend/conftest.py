"""The app with a stub model, for tests about the web tier itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.infrastructure.app import create_app
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel


@pytest.fixture
def stub() -> StubModel:
    return StubModel()


@pytest.fixture
def app(stub: StubModel) -> Flask:
    app = create_app(WEB_SETTINGS, chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client
