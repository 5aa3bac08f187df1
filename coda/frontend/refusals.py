"""Every refusal as a message in the request's language, never Flask's English error page.

A refused post answers with the same bubbles a turn has, so htmx appends them to the conversation
and the page says what happened: the user's text stays in the message box, the saved conversation
in the browser. A plain page load gets a small page of our own instead.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge, RequestTimeout

from coda.frontend.bubbles import Bubble, finished_bubble
from coda.frontend.i18n import language, translate
from coda.frontend.services import services
from coda.frontend.visitors import SignInRequired


def error_bubbles(text: str, status: int, *, user_text: str = "") -> Response:
    """A refused request still shows what was sent and why nothing came back."""
    lang = language()
    bubbles: list[Bubble] = []
    if user_text:
        bubbles.append(finished_bubble(role="user", text=user_text, state="done", lang=lang))
    bubbles.append(finished_bubble(role="assistant", text="", state="error", lang=lang, error=text))
    html = render_template("partials/_turn.html", bubbles=bubbles)
    return current_app.make_response((html, status))


def too_large(_error: RequestEntityTooLarge) -> Response:
    limit = services().settings.max_body_bytes
    return error_bubbles(translate("error.body_too_large", language(), limit_kb=limit // 1024), 413)


def body_timed_out(_error: RequestTimeout) -> Response:
    """The body stopped arriving: the connection is closed after this answer."""
    return error_bubbles(translate("error.body_timeout", language()), 408)


def csrf_failed(_error: CSRFError) -> Response:
    return error_bubbles(translate("error.csrf", language()), 400)


def sign_in_required(error: SignInRequired) -> Response:
    """No trustworthy sign-in: a sent message comes back in its bubble, a page says why."""
    key = "signin.unavailable" if error.reason == "unavailable" else "signin.required"
    text = translate(key, language())
    if request.method == "POST":
        return error_bubbles(text, error.status, user_text=request.form.get("message", "").strip())
    # No link back to the chat: without a sign-in it would only lead here again.
    page = render_template(
        "pages/error.html", message=text, message_id="sign-in-error", back_link=False
    )
    return current_app.make_response((page, error.status))


def http_error(error: HTTPException) -> Response | HTTPException:
    """Any other HTTP error, a 500 from a bug included: a message, in the page's language."""
    status = error.code or 500
    if status < 400:  # routing's own redirects pass through as they are
        return error
    lang = language()
    if isinstance(error, NotFound):
        text = translate("error.not_found", lang)
    elif status >= 500:
        text = translate("error.internal", lang)
    else:
        text = translate("error.request", lang, code=status)
    if request.headers.get("HX-Request") == "true":
        return error_bubbles(text, status)
    page = render_template("pages/error.html", message=text, back_link=True)
    return current_app.make_response((page, status))


def install(blueprint: Blueprint) -> None:
    """Answer every error of the app, not only the blueprint's, with a message."""
    blueprint.app_errorhandler(RequestEntityTooLarge)(too_large)
    blueprint.app_errorhandler(RequestTimeout)(body_timed_out)
    blueprint.app_errorhandler(CSRFError)(csrf_failed)
    blueprint.app_errorhandler(SignInRequired)(sign_in_required)
    blueprint.app_errorhandler(HTTPException)(http_error)
