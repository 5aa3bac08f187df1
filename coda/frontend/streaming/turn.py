"""One chat turn as a stream of Server-Sent Events, from the first byte to `done` or `error`.

Everything the browser needs arrives as HTML partials: the two bubbles, the answer formatted as it
comes (`rendering.live`, at the pace `Pacing` sets; escaped text when that is off), a loading
notice while Ollama is silent, then the sanitized Markdown bubble with its usage line.
A failure after the first byte can no longer change the status code, so it becomes an `error`
event whose bubble keeps the partial answer. When several chunks wait, they go out as one event.

A client that hangs up (Stop, Esc, a closed tab) is noticed at once under gevent, and the
generator's `finally` cancels the reader, which closes the upstream request so the model server
stops generating. When the worker shuts down, the answer gets the drain's grace period to finish,
then ends with a "the server is restarting" message that keeps the partial text.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from coda.frontend.i18n import error_message, translate
from coda.frontend.reading.posted_turn import PostedTurn
from coda.frontend.reading.saved_conversation import usage_fields
from coda.frontend.rendering.bubbles import TurnPartials, finished_bubble, usage_line
from coda.frontend.rendering.live import LiveAnswer
from coda.frontend.services import Pacing
from coda.frontend.streaming.draining import Draining
from coda.frontend.streaming.hangup import watch_for_hangup
from coda.frontend.streaming.model_reader import AnswerReader, Wake
from coda.frontend.streaming.sse import event, heartbeat
from coda.frontend.streaming.tasks import pause
from coda.llm import (
    ChatModel,
    GenerationOptions,
    LLMError,
    Message,
    PromptTooLongError,
    TokenSource,
    Usage,
    without_older_turns,
)
from coda.llm.prompt import prompt_estimate

logger = logging.getLogger(__name__)

TURN_RECORD_KEY = "coda.turn"  # in the WSGI environ, where the access log finds it


@dataclass
class TurnRecord:
    """What the access log line says about the answer; filled in as the stream goes."""

    outcome: str = "started"  # done | stopped | error
    error_kind: str | None = None
    error_detail: str | None = None
    first_token_ms: float | None = None  # the answer's first text, reasoning not counted
    first_thinking_ms: float | None = None  # a thinking model's first reasoning
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: str | None = None  # server | estimated (coda.llm.TokenSource)
    tokens_per_second: float | None = None
    load_seconds: float | None = None
    model: str | None = None
    attempts: int | None = None
    preset: str | None = None
    mode: str | None = None  # new | edit | regenerate | continue
    left_out: int | None = None  # earlier turns the model no longer sees
    prompt_estimate: int | None = None  # coda's upper bound of prompt_tokens (estimate_tokens)
    knowledge: str | None = None  # a knowledge preset's search: used | none | failed
    knowledge_found: int | None = None  # passages found above the score
    knowledge_sent: int | None = None  # of those, what fitted the budget

    def log_fields(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if v is not None}


def stream_turn(
    model: ChatModel,
    turn: PostedTurn,
    options: GenerationOptions,
    *,
    lang: str,
    record: TurnRecord,
    pacing: Pacing,
    draining: Draining,
    connection: Mapping[str, Any],
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """The events of one turn; closing this generator cancels the answer upstream.

    `connection` is the request's WSGI environ, where the client's socket is watched for a
    hang-up; `draining` ends the turn with a message when the worker is shutting down.
    """
    reader = AnswerReader(model, turn.prompt, options)
    partials = TurnPartials(lang, knowledge=turn.knowledge)
    started = clock()
    parts: list[str] = []
    thoughts: list[str] = []  # a thinking model's reasoning: shown apart, never sent back
    about = _about(turn)
    prompt, left_out, left_out_shown = turn.prompt, turn.left_out, turn.left_out_shown
    record.prompt_estimate = prompt_estimate(prompt)

    def answer() -> str:
        """The answer's text so far; a continuation's starts with the answer it extends."""
        return turn.answer_so_far + "".join(parts)

    def reasoning() -> str:
        return "".join(thoughts)

    notice_shown = False
    # Formatted while it streams (`live`): text waits in `unsent` for the pace, except the first.
    live = LiveAnswer(copy_label=translate("copy", lang)) if pacing.live_format_seconds else None
    unsent: list[str] = []
    next_format = started
    reader.start()
    stop_watching = watch_for_hangup(connection, lambda: reader.wake("hangup"))
    try:
        with draining.listening(lambda: reader.wake("draining")):
            notice = partials.left_out_notice(turn.left_out, turn.left_out_shown)
            opening = partials.opening(turn.message, answer_so_far=turn.answer_so_far, live=live)
            yield event(notice + opening)
            if notice:
                left_out_shown = turn.left_out
            last_write = clock()
            while True:
                waiting_for_first = not parts and not notice_shown
                deadline = last_write + pacing.heartbeat_seconds
                if waiting_for_first:
                    deadline = min(deadline, started + pacing.notice_seconds)
                if draining.deadline is not None:
                    deadline = min(deadline, draining.deadline)
                if unsent:
                    deadline = min(deadline, next_format)
                items = reader.take(deadline - clock())
                if not items:
                    if draining.deadline is not None and clock() >= draining.deadline:
                        yield from _restarting(answer(), reasoning(), partials, record, about)
                        return
                    if live is not None and unsent and clock() >= next_format:
                        yield event(partials.live("".join(unsent), live.update(answer())))
                        unsent.clear()
                        last_write = clock()
                        next_format = last_write + pacing.format_interval(draining.open_answers)
                        continue
                    if waiting_for_first and clock() >= started + pacing.notice_seconds:
                        notice_shown = True
                        yield event(partials.notice("loading"))
                    else:
                        yield heartbeat()
                    last_write = clock()
                    continue
                arrived: list[str] = []
                states: list[str] = []  # notices this batch brings: the thinking state
                for item in items:
                    if isinstance(item, Wake):
                        if item.reason == "hangup":
                            record.outcome = "stopped"
                            return
                        continue  # draining: the next wait ends at its deadline
                    shorter = _shorter(item, prompt, sent_text=bool(parts))
                    if shorter is not None:  # refused for its length: ask without older turns
                        prompt, dropped = shorter
                        left_out += dropped
                        record.left_out = about["left_out"] = left_out
                        logger.warning(
                            "model server refused the prompt as too long; asking again without"
                            " older turns",
                            extra={"left_out": left_out, "error_detail": str(item)},
                        )
                        record.prompt_estimate = prompt_estimate(prompt)
                        reader.cancel()
                        reader = AnswerReader(model, prompt, options)
                        reader.start()
                        yield event(partials.left_out_update(left_out, left_out_shown))
                        left_out_shown = left_out
                        last_write = clock()
                        break
                    if isinstance(item, LLMError):
                        yield from _failed(item, answer(), reasoning(), partials, record, about)
                        return
                    if isinstance(item, Exception):
                        raise item  # a bug below the port: reported below like one of ours
                    if item.thinking:
                        if not thoughts:
                            record.first_thinking_ms = round((clock() - started) * 1000, 1)
                            if not parts:  # thinking, not loading: say so until the answer
                                states.append(partials.notice("thinking"))
                                notice_shown = True
                        thoughts.append(item.thinking)
                    if item.text:
                        if not parts:
                            record.first_token_ms = round((clock() - started) * 1000, 1)
                        parts.append(item.text)
                        arrived.append(item.text)
                    if item.usage is not None:
                        yield from _done(item.usage, answer(), reasoning(), partials, record, about)
                        return
                html = "".join(states)
                if arrived and notice_shown and len(parts) == len(arrived):  # the first text
                    html = partials.clear_notice() + html  # the notice goes
                if live is None:
                    html += partials.append("".join(arrived)) if arrived else ""
                else:
                    unsent.extend(arrived)
                    if unsent and clock() >= next_format:
                        html += partials.live("".join(unsent), live.update(answer()))
                        unsent.clear()
                        next_format = clock() + pacing.format_interval(draining.open_answers)
                if html:
                    yield event(html)
                    last_write = clock()
                elif clock() - last_write >= pacing.heartbeat_seconds:
                    # Reasoning that shows nothing yet: the page must still hear that we live.
                    yield heartbeat()
                    last_write = clock()
    except GeneratorExit:
        record.outcome = "stopped"
        raise
    except Exception as exc:  # the one place a bug becomes a message: the user still gets one
        logger.exception("chat stream failed")
        record.outcome, record.error_kind = "error", "internal"
        record.error_detail = f"{type(exc).__name__}: {exc}"
        message = translate("error.internal", partials.lang)
        yield from _final("error", answer(), reasoning(), partials, about, message=message)
    finally:
        stop_watching()
        reader.cancel()


def _shorter(
    item: object, prompt: list[Message], *, sent_text: bool
) -> tuple[list[Message], int] | None:
    """The prompt to ask again with, and how many messages it leaves out, when the server
    refused `prompt` as longer than its window before any text: never "rephrase", and never
    silently, since the page's left-out notice counts what the model no longer sees."""
    if not isinstance(item, PromptTooLongError) or sent_text:
        return None
    return without_older_turns(prompt)


def _about(turn: PostedTurn) -> dict[str, object]:
    """What the last event says of the turn besides its answer, for the browser to keep: the
    question as the model got it (none when continuing), how many turns it no longer sees, and
    how the knowledge base served it with the passages sent."""
    about: dict[str, object] = {
        "mode": turn.mode,
        "question": turn.message if turn.mode != "continue" else None,
        "left_out": turn.left_out,
    }
    if turn.knowledge is not None:  # saved with the answer, so a reload lists its sources again
        about.update(turn.knowledge.fields())
    return about


def _done(
    usage: Usage,
    text: str,
    reasoning: str,
    partials: TurnPartials,
    record: TurnRecord,
    about: dict[str, object],
) -> Iterator[bytes]:
    record.outcome = "done"
    record.model = usage.model
    record.prompt_tokens = usage.prompt_tokens
    record.completion_tokens = usage.completion_tokens
    record.token_source = usage.token_source.value
    if usage.token_source is TokenSource.SERVER and usage.prompt_tokens > (
        record.prompt_estimate or usage.prompt_tokens
    ):
        # The bound failed: a model whose template or tokenizer costs more than the shipped ones.
        # Ollama may then have cut the oldest messages without a word; say so where it is read.
        logger.warning(
            "the server counted more prompt tokens than coda's upper bound",
            extra={"prompt_tokens": usage.prompt_tokens, "prompt_estimate": record.prompt_estimate},
        )
    record.tokens_per_second = usage.tokens_per_second
    record.load_seconds = usage.load_seconds
    record.attempts = usage.attempts
    lang = partials.lang
    error = ""
    if not text.strip():
        # Reasoning that ran into the length limit left no room for the answer: not the
        # question's fault, and not an empty answer.
        exhausted = reasoning.strip() and usage.done_reason == "length"
        error = translate("reasoning_exhausted" if exhausted else "empty_answer", lang)
    meta = usage_line(usage, lang)
    yield from _final(
        "done", text, reasoning, partials, about, message=error, meta=meta, usage=usage
    )


def _restarting(
    text: str,
    reasoning: str,
    partials: TurnPartials,
    record: TurnRecord,
    about: dict[str, object],
) -> Iterator[bytes]:
    record.outcome, record.error_kind = "error", "restarting"
    record.error_detail = "the worker is shutting down"
    message = translate("error.restarting", partials.lang)
    yield from _final("error", text, reasoning, partials, about, message=message)


def _failed(
    error: LLMError,
    text: str,
    reasoning: str,
    partials: TurnPartials,
    record: TurnRecord,
    about: dict[str, object],
) -> Iterator[bytes]:
    record.outcome, record.error_kind, record.error_detail = "error", error.kind, error.detail
    record.attempts = error.attempts
    answered = bool(text or reasoning)
    message = error_message(error.kind, error.params, partials.lang, answered=answered)
    yield from _final("error", text, reasoning, partials, about, message=message)


def _final(
    state: str,
    text: str,
    reasoning: str,
    partials: TurnPartials,
    about: dict[str, object],
    *,
    message: str = "",
    meta: str = "",
    usage: Usage | None = None,
) -> Iterator[bytes]:
    """The finished bubble, then the named event (`done` or `error`) the page saves the turn from:
    the one ending every turn shares.

    Other greenlets run first: the last live formatting may have just taken its whole budget,
    and the final render may take one more; back to back they would hold the loop twice as long.
    """
    pause()
    bubble = finished_bubble(
        role="assistant",
        text=text,
        state=state,
        lang=partials.lang,
        id=partials.id,
        error=message,
        meta=meta,
        reasoning=reasoning,
        knowledge=partials.knowledge,
    )
    yield event(partials.final(bubble))
    payload: dict[str, object] = {"state": state, "content": text}
    if usage is not None:
        payload["usage"] = usage_fields(usage)
    if message:
        payload["message"] = message
    payload.update(about)
    if reasoning:
        payload["reasoning"] = reasoning
    yield event(json.dumps(payload, ensure_ascii=False), state)
