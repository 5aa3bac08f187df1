"""The chat blueprint: the page, one streamed turn, restoring a saved conversation, languages."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from coda.config import LANGUAGES
from coda.frontend import refusals
from coda.frontend.admission import Gate, Refusal, Ticket
from coda.frontend.attachments import (
    ATTACHMENT_PATH,
    MAX_NAME_CHARS,
    QUESTION_PATH,
    AttachmentRefused,
    attachment_payload,
    question_vector,
)
from coda.frontend.i18n import LANG_COOKIE, language, translate
from coda.frontend.page_data import page_data
from coda.frontend.reading.posted_json import clean_text
from coda.frontend.reading.posted_turn import InputError, PostedTurn, read_turn
from coda.frontend.reading.saved_conversation import read_import, read_saved_conversation
from coda.frontend.refusals import Refused
from coda.frontend.rendering.bubbles import (
    finished_bubble,
    left_out_notice,
    new_bubble_id,
    usage_line,
)
from coda.frontend.retrieval import with_knowledge
from coda.frontend.services import Services, services
from coda.frontend.streaming.tasks import pause
from coda.frontend.streaming.turn import TURN_RECORD_KEY, TurnRecord, stream_turn
from coda.frontend.visitors import current_visitor
from coda.llm import LLMError

blueprint = Blueprint("chat", __name__)
logger = logging.getLogger(__name__)

ONE_YEAR = 365 * 24 * 3600


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
        model_notice=app_services.model_notice,
        limits=app_services.limits,
        presets=app_services.presets,
        options=app_services.options,
        sign_out=app_services.sign_out_link,
        page_data=page_data(
            app_services.limits,
            language(),
            heartbeat_seconds=app_services.pacing.heartbeat_seconds,
            attachments=app_services.attachment_rules,
        ),
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
    """One turn: read it, admit it, stream the answer as Server-Sent Events. A turn refused on
    the way (its input, a limit) is a `Refused`, answered by `refusals.answer`."""
    app_services = services()
    turn = _read_turn(app_services)
    ticket = _admit(turn, app_services.gate)
    return _stream(turn, ticket, app_services)


def _read_turn(app_services: Services) -> PostedTurn:
    """The posted turn, or refused with the rule it breaks; the model server is asked nothing."""
    try:
        return read_turn(
            request.form,
            app_services.system_prompt,
            app_services.limits,
            app_services.models,
            presets=app_services.presets,
            lang=language(),
            no_question=translate("attach.no_question", language()),
        )
    except InputError as exc:
        # The question is shown back with the refusal, unless it is the problem: the browser keeps
        # it in the message box either way, and a huge one is not worth sending back.
        asked = request.form.get("message", "").strip()
        shown = asked if len(asked) <= app_services.limits.max_message_chars else ""
        raise Refused.input(exc, user_text=shown) from None


def _admit(turn: PostedTurn, gate: Gate) -> Ticket:
    """A place for the turn within the limits, or refused saying which and when to send again."""
    visitor = current_visitor()
    ticket = gate.admit(visitor.pseudonym if visitor else "")
    if isinstance(ticket, Refusal):
        record = TurnRecord(
            outcome="refused", error_kind=ticket.reason, error_detail=ticket.detail or None
        )
        raise Refused(
            ticket.message(language()),
            ticket.status,
            user_text=turn.message,
            record=record,
            retry_after=ticket.retry_after,
        )
    return ticket


def _stream(turn: PostedTurn, ticket: Ticket, app_services: Services) -> Response:
    """The answer as events, after a knowledge preset's search; the ticket is given back whenever
    the stream closes."""
    try:
        try:
            turn = with_knowledge(
                turn, app_services.knowledge, budget=app_services.knowledge_tokens, lang=language()
            )
        except InputError as exc:  # the attached files do not fit, or the preset needs one whole
            raise Refused.input(exc, user_text=turn.message) from None
        model = app_services.chat_model.with_model(turn.model)
        record = TurnRecord(model=model.model, preset=turn.preset, mode=turn.mode)
        record.left_out = turn.left_out or None
        if turn.knowledge is not None:
            record.knowledge = turn.knowledge.state
            record.knowledge_found = turn.knowledge.found
            record.knowledge_sent = len(turn.knowledge.sources)
        request.environ[TURN_RECORD_KEY] = record
        body = stream_turn(
            model,
            turn,
            turn.options(app_services.options, no_thinking=app_services.no_thinking_models),
            lang=language(),
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
        raise Refused(translate("error.restore", lang), 422) from None
    bubbles = []
    for turn in saved.turns:
        bubbles.append(
            finished_bubble(
                role=turn.message.role.value,
                text=turn.message.content,
                state=turn.state,
                lang=lang,
                # An answer listing sources needs an id its `[n]` links can point into.
                id=new_bubble_id() if turn.knowledge and turn.knowledge.sources else "",
                error=turn.error,
                meta="" if turn.usage is None else usage_line(turn.usage, lang),
                reasoning=turn.reasoning,
                knowledge=turn.knowledge,
            )
        )
        pause()  # each answer renders within its budget; a long conversation is many of them
    notice = left_out_notice(saved.left_out, lang) if saved.left_out else ""
    html = render_template(
        "partials/_conversation.html", bubbles=bubbles, notice=notice, notice_at=saved.left_out_at
    )
    return current_app.make_response(html)


@blueprint.post("/import")
def import_conversation() -> Response:
    """Check an exported conversation file with the same limits as history, for the browser to
    keep; anything that is not one is refused with a message."""
    app_services = services()
    upload = request.files.get("file")
    try:
        if upload is None:
            raise InputError("not_a_conversation", "no file")
        try:
            # An editor or a sync tool may have saved it again with a byte order mark.
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("not_a_conversation", "the file is not UTF-8 text") from None
        imported = read_import(
            text, app_services.limits, app_services.presets, app_services.models.allowed
        )
    except InputError as exc:
        raise Refused.input(exc, shown="import") from None
    html = render_template("partials/_imported.html", conversation=imported)
    return current_app.make_response(html)


@blueprint.post(ATTACHMENT_PATH)
def attach() -> Response:
    """Read an attached file and send back what the browser keeps of it (JSON, see
    `attachment_payload`); nothing of it stays here. A file that cannot be attached is refused
    with a message (JSON `{"message"}`)."""
    app_services = services()
    lang = language()
    upload = request.files.get("file")
    if upload is None or app_services.read_attachment is None:
        raise Refused(translate("error.attachment.missing", lang), 400)
    name = clean_text(upload.filename or "").strip()[:MAX_NAME_CHARS] or "file"
    data = upload.read(app_services.attachment_max_bytes + 1)
    try:
        read = app_services.read_attachment(data, name)
        payload = attachment_payload(
            name,
            read,
            system_prompt=app_services.system_prompt,
            limits=app_services.limits,
            embedding=app_services.embedding,
        )
    except AttachmentRefused as exc:
        logger.info(
            "attachment refused",
            extra={"attachment_reason": exc.reason, "attachment_detail": exc.detail[:300]},
        )
        raise Refused(attachment_message(exc, lang, app_services), 422) from None
    except LLMError as exc:
        logger.warning("an attached file could not be embedded", extra=exc.log_fields())
        raise Refused(translate("error.attachment.embedding", lang), 503) from None
    return jsonify(payload)


@blueprint.post(QUESTION_PATH)
def attachment_question() -> Response:
    """A question's vector, for the browser to find the passages of a long attached file it
    needs (JSON, see `question_vector`)."""
    app_services = services()
    lang = language()
    question = clean_text(request.form.get("question", "")).strip()
    if app_services.embedding is None or not question:
        raise Refused(translate("error.attachment.embedding", lang), 400)
    question = question[: app_services.limits.max_history_chars]
    try:
        return jsonify(question_vector(question, app_services.embedding))
    except LLMError as exc:
        logger.warning("a question about a file could not be embedded", extra=exc.log_fields())
        raise Refused(translate("error.attachment.embedding", lang), 503) from None


def attachment_message(refused: AttachmentRefused, lang: str, app_services: Services) -> str:
    """What the person reads when a file cannot be attached, in the page's language."""
    params: dict[str, object] = {
        "max_mb": app_services.attachment_max_bytes // (1 << 20),
        **refused.params,
    }
    return translate(f"error.attachment.{refused.reason}", lang, **params)


refusals.install(blueprint)
