"""The chat blueprint: the page, one streamed turn, restoring a saved conversation, languages."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from coda.config import LANGUAGES
from coda.frontend.admission import Refusal, current_gate
from coda.frontend.bubbles import Bubble, finished_bubble
from coda.frontend.i18n import LANG_COOKIE, error_message, pick_language, translate
from coda.frontend.posted_turn import InputError, read_saved_conversation, read_turn
from coda.frontend.services import services
from coda.frontend.turn import TurnRecord, stream_turn
from coda.frontend.visitors import SignInRequired, current_visitor

blueprint = Blueprint("chat", __name__)

TURN_RECORD_KEY = "coda.turn"  # in the WSGI environ, where the access log finds it
ONE_YEAR = 365 * 24 * 3600


def language() -> str:
    return pick_language(request, services().settings.default_language)


@blueprint.app_context_processor
def page_globals() -> dict[str, object]:
    """`t(key)` in every template, in the request's language."""
    lang = language()
    return {
        "lang": lang,
        "t": lambda key, **params: translate(key, lang, **params),
        "visitor": current_visitor(),
    }


def page_or_partial(page: str, partial: str, **context: object) -> Response:
    """The partial for htmx requests, the whole page otherwise (and on history restore)."""
    wants_partial = (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
    response = current_app.make_response(
        render_template(partial if wants_partial else page, **context)
    )
    response.vary.update(("HX-Request", "Accept-Language", "Cookie"))
    return response


@blueprint.get("/")
def index() -> Response:
    """The chat page; the browser fills in a saved conversation after load."""
    app_services = services()
    return page_or_partial(
        "pages/chat.html",
        "partials/_messages.html",
        models=app_services.models,
        model_notice=app_services.settings.model_notice,
        limits=app_services.limits,
    )


@blueprint.get("/lang/<code>")
def choose_language(code: str) -> BaseResponse:
    """Remember the language switch in a cookie and go back to the page."""
    response = redirect(url_for("chat.index"))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=ONE_YEAR, samesite="Lax", httponly=True)
    return response


@blueprint.post("/chat")
def chat() -> Response:
    """One turn: validate everything first, then stream the answer as Server-Sent Events."""
    app_services = services()
    lang = language()
    try:
        turn = read_turn(
            request.form,
            app_services.settings.system_prompt,
            app_services.limits,
            app_services.models,
        )
    except InputError as exc:
        request.environ[TURN_RECORD_KEY] = TurnRecord(
            outcome="error", error_kind=exc.kind, error_detail=exc.detail
        )
        text = error_message(exc.kind, exc.params, lang)
        return _error_bubbles(text, 422, user_text=request.form.get("message", "").strip())
    visitor = current_visitor()
    ticket = current_gate().admit(visitor.pseudonym if visitor else "")
    if isinstance(ticket, Refusal):  # the model server is asked nothing
        request.environ[TURN_RECORD_KEY] = TurnRecord(
            outcome="refused", error_kind=ticket.reason, error_detail=ticket.detail or None
        )
        refused = _error_bubbles(ticket.message(lang), ticket.status, user_text=turn.message)
        refused.headers["Retry-After"] = str(ticket.retry_after)
        return refused
    model = app_services.chat_model.with_model(turn.model)
    record = TurnRecord(model=model.model)
    request.environ[TURN_RECORD_KEY] = record
    try:
        body = stream_turn(
            model,
            turn,
            app_services.options,
            lang=lang,
            record=record,
            pacing=app_services.pacing,
            draining=app_services.draining,
            connection=request.environ,
        )
        response = Response(stream_with_context(body), mimetype="text/event-stream")
    except BaseException:
        ticket.finish(0)
        raise
    # Whatever ends the stream (done, Stop, a hang-up, an error, the shutdown drain), the server
    # closes the body, and the streams counted for this turn are given back.
    response.call_on_close(lambda: ticket.finish(_tokens(record)))
    # No proxy, CDN or compressor may hold events back: each one is written and flushed alone.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _tokens(record: TurnRecord) -> int:
    """What the answer cost, as the server reported it at the end (nothing when it did not end)."""
    return (record.prompt_tokens or 0) + (record.completion_tokens or 0)


@blueprint.post("/conversation")
def conversation() -> Response:
    """Re-render a conversation the browser saved, so a reload shows it as it was."""
    lang = language()
    try:
        saved = read_saved_conversation(request.form, services().limits)
    except InputError:
        return _error_bubbles(translate("error.restore", lang), 422)
    bubbles = [
        finished_bubble(role=m.role.value, text=m.content, state=state, lang=lang)
        for m, state in saved
    ]
    return current_app.make_response(render_template("partials/_turn.html", bubbles=bubbles))


@blueprint.app_errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> Response:
    limit = services().settings.max_body_bytes
    text = translate("error.body_too_large", language(), limit_kb=limit // 1024)
    return _error_bubbles(text, 413)


@blueprint.app_errorhandler(CSRFError)
def csrf_failed(_error: CSRFError) -> Response:
    return _error_bubbles(translate("error.csrf", language()), 400)


@blueprint.app_errorhandler(SignInRequired)
def sign_in_required(error: SignInRequired) -> Response:
    """No trustworthy sign-in: a sent message comes back in its bubble, a page says why."""
    key = "signin.unavailable" if error.reason == "unavailable" else "signin.required"
    text = translate(key, language())
    if request.method == "POST":
        return _error_bubbles(text, error.status, user_text=request.form.get("message", "").strip())
    page = render_template("pages/signed_out.html", text=text)
    return current_app.make_response((page, error.status))


def _error_bubbles(text: str, status: int, *, user_text: str = "") -> Response:
    """A refused request still shows what was sent and why nothing came back."""
    bubbles: list[Bubble] = []
    if user_text:
        bubbles.append(finished_bubble(role="user", text=user_text, state="done", lang=language()))
    bubbles.append(
        finished_bubble(role="assistant", text="", state="error", lang=language(), error=text)
    )
    html = render_template("partials/_turn.html", bubbles=bubbles)
    return current_app.make_response((html, status))
