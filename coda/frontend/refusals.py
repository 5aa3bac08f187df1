"""One door for every refusal: a request turned away (its input, a limit, no sign-in, a body too
large, a stale CSRF token, any other HTTP error) is a `Refused`, and `answer` is the one place it
becomes a response and, when a turn was refused, the turn's line in the access log.

A refused post answers with the same bubbles a turn has, so htmx appends them to the conversation
and the page says what happened: the user's text stays in the message box, the saved conversation
in the browser. A plain page load gets a small page of our own instead, never Flask's English one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge, RequestTimeout

from coda.frontend.attachments import ATTACHMENT_PATH, QUESTION_PATH
from coda.frontend.i18n import error_message, language, translate
from coda.frontend.reading.input_error import InputError
from coda.frontend.reading.posted_json import clean_text
from coda.frontend.rendering.bubbles import Bubble, finished_bubble
from coda.frontend.services import services
from coda.frontend.streaming.turn import TURN_RECORD_KEY, TurnRecord
from coda.frontend.visitors import SignInRequired

# Routes the page's script calls itself: their refusals are JSON, `{"message": …}`.
JSON_PATHS = frozenset({ATTACHMENT_PATH, QUESTION_PATH})
# Where the refusal is shown: as the turn's bubbles, as a page, or as an import's result.
Shown = Literal["bubbles", "page", "import"]


@dataclass(eq=False)
class Refused(Exception):
    """What the user reads, the status, and, for a refused turn, its access-log record.

    `user_text` is the question shown back in its bubble; `retry_after` (seconds) goes in the
    header of the same name; `back_link` and `message_id` shape the page.
    """

    text: str
    status: int
    user_text: str = ""
    record: TurnRecord | None = None
    retry_after: int | None = None
    shown: Shown = "bubbles"
    back_link: bool = True
    message_id: str = ""

    @classmethod
    def input(cls, error: InputError, *, user_text: str = "", shown: Shown = "bubbles") -> Refused:
        """Input that breaks a rule: 422, its message, and the turn logged as an error."""
        record = TurnRecord(outcome="error", error_kind=error.kind, error_detail=error.detail)
        text = error_message(error.kind, error.params, language())
        return cls(text, 422, user_text=clean_text(user_text), record=record, shown=shown)


def answer(refused: Refused) -> Response:
    """The one door: record the refused turn (if any), then say why in the request's language."""
    if refused.record is not None:
        request.environ[TURN_RECORD_KEY] = refused.record
    if request.path in JSON_PATHS:  # the page's own script reads these: a message it shows
        return current_app.make_response((jsonify(message=refused.text), refused.status))
    if refused.shown == "page":
        html = render_template(
            "pages/error.html",
            message=refused.text,
            message_id=refused.message_id,
            back_link=refused.back_link,
        )
    elif refused.shown == "import":
        html = render_template("partials/_imported.html", error=refused.text)
    else:
        html = _bubbles(refused.text, refused.user_text)
    response = current_app.make_response((html, refused.status))
    if refused.retry_after is not None:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def _bubbles(text: str, user_text: str) -> str:
    """A refused request still shows what was sent and why nothing came back."""
    lang = language()
    bubbles: list[Bubble] = []
    if user_text:
        bubbles.append(finished_bubble(role="user", text=user_text, state="done", lang=lang))
    bubbles.append(finished_bubble(role="assistant", text="", state="error", lang=lang, error=text))
    return render_template("partials/_turn.html", bubbles=bubbles)


def too_large(_error: RequestEntityTooLarge) -> Response:
    if request.path == ATTACHMENT_PATH:
        max_mb = services().attachment_max_bytes // (1 << 20)
        return answer(
            Refused(translate("error.attachment.too_large", language(), max_mb=max_mb), 413)
        )
    limit_kb = services().max_body_bytes // 1024
    return answer(Refused(translate("error.body_too_large", language(), limit_kb=limit_kb), 413))


def body_timed_out(_error: RequestTimeout) -> Response:
    """The body stopped arriving: the connection is closed after this answer."""
    return answer(Refused(translate("error.body_timeout", language()), 408))


def csrf_failed(_error: CSRFError) -> Response:
    return answer(Refused(translate("error.csrf", language()), 400))


def sign_in_required(error: SignInRequired) -> Response:
    """No trustworthy sign-in: a sent message comes back in its bubble, a page says why."""
    key = "signin.unavailable" if error.reason == "unavailable" else "signin.required"
    text = translate(key, language())
    if request.method == "POST":
        asked = request.form.get("message", "").strip()
        return answer(Refused(text, error.status, user_text=asked))
    # No link back to the chat: without a sign-in it would only lead here again.
    return answer(
        Refused(text, error.status, shown="page", back_link=False, message_id="sign-in-error")
    )


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
    htmx = request.headers.get("HX-Request") == "true"
    return answer(Refused(text, status, shown="bubbles" if htmx else "page"))


def install(blueprint: Blueprint) -> None:
    """Answer every refusal of the app, not only the blueprint's, through the one door."""
    blueprint.app_errorhandler(Refused)(answer)
    blueprint.app_errorhandler(RequestEntityTooLarge)(too_large)
    blueprint.app_errorhandler(RequestTimeout)(body_timed_out)
    blueprint.app_errorhandler(CSRFError)(csrf_failed)
    blueprint.app_errorhandler(SignInRequired)(sign_in_required)
    blueprint.app_errorhandler(HTTPException)(http_error)
