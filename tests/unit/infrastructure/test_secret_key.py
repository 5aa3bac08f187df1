"""CODA_SECRET_KEY makes the web tier stateless: a page served by one instance may post to another.

Two apps stand for two instances (or one instance before and after a restart). The CSRF token in the
page and the session cookie are both signed with the secret key, so instance B accepts what
instance A handed out exactly when both have the same key.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Flask
from flask.testing import FlaskClient

from coda.config import Settings
from coda.infrastructure.app import create_app
from tests.support.html import csrf_token
from tests.support.stub_model import StubModel

SETTINGS = Settings(model="stub:1", log_format="text", secret_key="")


def _page_token_and_cookie(app: Flask) -> tuple[str, str]:
    """GET / on one instance: the page's CSRF token and the session cookie set with it."""
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None, "the page set no session cookie"
    return token, cookie.value


def _post_turn(app: Flask, token: str, cookie: str) -> int:
    """POST /chat on another instance with the first one's cookie and token; the status code."""
    client: FlaskClient = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    response = client.post(
        "/chat",
        data={"message": "こんにちは", "history": "[]"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    response.get_data()  # drain the stream, so the stub's generator finishes
    return response.status_code


def test_instances_sharing_a_secret_key_accept_each_others_csrf_token() -> None:
    settings = replace(SETTINGS, secret_key="the-same-key-on-every-instance")
    stub_b = StubModel()
    app_a = create_app(settings, chat_model=StubModel())
    app_b = create_app(settings, chat_model=stub_b)
    token, cookie = _page_token_and_cookie(app_a)

    status = _post_turn(app_b, token, cookie)

    assert status == 200
    assert len(stub_b.received) == 1  # the turn reached the model


def test_instances_without_a_secret_key_reject_each_others_csrf_token() -> None:
    stub_b = StubModel()
    app_a = create_app(SETTINGS, chat_model=StubModel())
    app_b = create_app(SETTINGS, chat_model=stub_b)
    assert app_a.config["SECRET_KEY"] != app_b.config["SECRET_KEY"]  # one random key each
    token, cookie = _page_token_and_cookie(app_a)

    status = _post_turn(app_b, token, cookie)

    assert status == 400
    assert stub_b.received == []


def test_instances_with_different_secret_keys_reject_each_others_csrf_token() -> None:
    """What a rotation does to a page left open: it must be reloaded."""
    app_a = create_app(replace(SETTINGS, secret_key="old-key"), chat_model=StubModel())
    app_b = create_app(replace(SETTINGS, secret_key="new-key"), chat_model=StubModel())
    token, cookie = _page_token_and_cookie(app_a)

    assert _post_turn(app_b, token, cookie) == 400
