"""Errors the app answers itself: a message in the request's language, never Flask's English page
or a traceback, and the security headers on every one."""

from __future__ import annotations

from dataclasses import replace

from flask import Flask

from coda.frontend.i18n import LANG_COOKIE
from coda.infrastructure.app import create_app
from tests.support.html import bubbles, one, parse
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel


def app_with_a_bug() -> Flask:
    app = create_app(replace(WEB_SETTINGS, log_level="CRITICAL"), chat_model=StubModel())
    app.config["WTF_CSRF_ENABLED"] = False

    def broken() -> str:
        raise RuntimeError("a bug of ours")

    app.add_url_rule("/broken", view_func=broken, methods=["GET", "POST"])
    return app


def test_a_bug_answers_an_htmx_request_with_a_bubble_in_the_pages_language() -> None:
    client = app_with_a_bug().test_client()
    client.set_cookie(LANG_COOKIE, "en")

    response = client.post("/broken", headers={"HX-Request": "true"})

    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Traceback" not in html
    assert "a bug of ours" not in html
    (answer,) = bubbles(html, "assistant")
    assert "Something unexpected went wrong" in one(answer, ".message-error").get_text()
    assert "Content-Security-Policy" in response.headers


def test_a_bug_answers_a_page_load_with_a_page_of_ours_in_japanese() -> None:
    response = app_with_a_bug().test_client().get("/broken")

    page = parse(response.get_data(as_text=True))
    assert response.status_code == 500
    assert "予期しないエラー" in one(page, ".message-error").get_text()
    assert one(page, "a[href='/']")


def test_an_unknown_page_says_so() -> None:
    app = create_app(WEB_SETTINGS, chat_model=StubModel())

    response = app.test_client().get("/no/such/page")

    assert response.status_code == 404
    assert (
        "このページはありません"
        in one(response.get_data(as_text=True), ".message-error").get_text()
    )


def test_a_wrong_method_from_the_page_gets_a_bubble() -> None:
    app = create_app(WEB_SETTINGS, chat_model=StubModel())

    response = app.test_client().get("/chat", headers={"HX-Request": "true"})

    assert response.status_code == 405
    (answer,) = bubbles(response.get_data(as_text=True), "assistant")
    assert "405" in one(answer, ".message-error").get_text()


def test_an_error_page_leaves_the_chat_pages_session_alone() -> None:
    """A 404 answered while the chat page loads (the browser's /favicon.ico) must not send a session
    cookie: one with a token the chat page lacks would turn its next post into 'page expired'."""
    app = create_app(WEB_SETTINGS, chat_model=StubModel())
    chat_page = app.test_client().get("/")
    missing = app.test_client().get("/favicon.ico")

    assert "Set-Cookie" in chat_page.headers
    assert missing.status_code == 404
    assert "Set-Cookie" not in missing.headers
    assert parse(missing.get_data(as_text=True)).select('meta[name="csrf-token"]') == []
