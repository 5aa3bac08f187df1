"""Conversations the browser kept: read back to be shown (`POST /conversation`) or imported from
a file (`POST /import`), with the same limits as the history a turn sends.

The browser stores each message with the state it ended in, an answer's error message and its
usage (model, tokens, speed), so a reload shows it as it was. All of it is checked here before it
is rendered: it comes from the page like anything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from coda.config.presets import Presets
from coda.config.ranges import KNOWLEDGE_TOP_K
from coda.config.vocabulary import EXPORT_FORMAT, EXPORT_VERSION
from coda.frontend.reading.input_error import InputError
from coda.frontend.reading.posted_attachments import MAX_ATTACHMENTS
from coda.frontend.reading.posted_attachments import MAX_NAME_CHARS as ATTACHMENT_NAME_CHARS
from coda.frontend.reading.posted_json import MAX_COUNT, clean_text, read_count, read_json
from coda.frontend.reading.posted_settings import FIELD_PREFIX, read_settings
from coda.frontend.reading.posted_turn import MESSAGES_PER_STEP, parse_history
from coda.frontend.rendering.sources import (
    EXCERPT_CHARS,
    KNOWLEDGE_STATES,
    Knowledge,
    ShownSource,
)
from coda.frontend.streaming.tasks import pause
from coda.llm import Message, PromptLimits, SpeedSource, TokenSource, Usage

SAVED_STATES = frozenset({"done", "stopped", "error", "interrupted"})
# An answer saved while it was still coming in, then the page closed: it was interrupted.
STREAMING = "streaming"
SAVED_KEYS = frozenset(
    {"state", "error", "usage", "reasoning", "knowledge", "sources", "files", "partial"}
)
# A thinking model's reasoning is kept with its answer, never sent back as history.
MAX_REASONING_CHARS = 200_000
USAGE_KEYS = frozenset(
    {"model", "prompt_tokens", "completion_tokens", "tokens_per_second", "speed_source"}
    | {"done_reason", "token_source"}
)
# A list of messages, each of which may hold a usage object and a list of sources.
SAVED_DEPTH = 4
# An exported file: {turns: [{sources: [{…}]}], settings: {fields: {…}}}.
IMPORT_DEPTH = 5
# The passages listed under an answer: at most the knowledge base's top-k, each as `shown` cut it.
SOURCE_KEYS = frozenset({"path", "heading", "page", "excerpt"})
MAX_SOURCES = int(KNOWLEDGE_TOP_K.high)
MAX_SOURCE_PATH_CHARS = 1000
MAX_SOURCE_HEADING_CHARS = 2000
MAX_SOURCE_EXCERPT_CHARS = 2 * EXCERPT_CHARS
MAX_ERROR_CHARS = 2000
MAX_TITLE_CHARS = 200
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class SavedTurn:
    """One saved message: its text, the state it ended in, its error and its usage line."""

    message: Message
    state: str = "done"
    error: str = ""
    usage: Usage | None = None
    reasoning: str = ""
    knowledge: Knowledge | None = None


@dataclass(frozen=True)
class SavedConversation:
    """What `/conversation` shows: the messages, and where the "turns left out" notice sits."""

    turns: list[SavedTurn]
    left_out: int = 0
    left_out_at: int = 0


def usage_fields(usage: Usage) -> dict[str, object]:
    """What the browser keeps of an answer's usage: what its usage line needs, nothing more."""
    return {
        "model": usage.model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "tokens_per_second": usage.tokens_per_second,
        "speed_source": usage.speed_source.value,
        "done_reason": usage.done_reason,
        "token_source": usage.token_source.value,
    }


def read_saved_conversation(form: Mapping[str, str], limits: PromptLimits) -> SavedConversation:
    """A conversation saved in the browser, with the position and count of its notice."""
    turns = read_saved_turns(read_json(form.get("history", ""), SAVED_DEPTH), limits)
    left_out = read_count(form.get("left_out", ""), "left_out")
    left_out_at = read_count(form.get("left_out_at", ""), "left_out_at")
    return SavedConversation(turns, left_out, min(left_out_at, len(turns)))


def read_saved_turns(raw: object, limits: PromptLimits) -> list[SavedTurn]:
    """Saved messages: what history allows (`parse_history`), plus a state, error and usage."""
    if not isinstance(raw, list):
        raise InputError("bad_history", "history is not a list")
    extras: list[tuple[str, str, Usage | None, str, Knowledge | None]] = []
    stripped: list[object] = []
    for index, item in enumerate(raw):
        if index % MESSAGES_PER_STEP == MESSAGES_PER_STEP - 1:
            pause()
        if isinstance(item, dict):
            extras.append(_extras(item, index))
            stripped.append({k: v for k, v in item.items() if k not in SAVED_KEYS})
        else:
            stripped.append(item)
    history = parse_history(stripped, limits)
    turns = []
    for message, (state, error, usage, reasoning, knowledge) in zip(history, extras, strict=True):
        answer = message.role.value == "assistant"  # only an answer has an error or reasoning
        turns.append(
            SavedTurn(
                message,
                state,
                error if answer else "",
                usage,
                reasoning if answer else "",
                knowledge if answer else None,
            )
        )
    return turns


def _extras(
    item: Mapping[str, Any], index: int
) -> tuple[str, str, Usage | None, str, Knowledge | None]:
    state = item.get("state", "done")
    if not isinstance(state, str):
        raise InputError("bad_history", f"history[{index}] has a state that is not text")
    # A state this version does not know (an older or newer page) is shown as finished.
    if state == STREAMING:
        state = "interrupted"
    elif state not in SAVED_STATES:
        state = "done"
    error = item.get("error", "")
    if not isinstance(error, str) or len(error) > MAX_ERROR_CHARS:
        raise InputError("bad_history", f"history[{index}] has an error that is not short text")
    raw_usage = item.get("usage")
    usage = None if raw_usage is None else _usage(raw_usage, index)
    reasoning = item.get("reasoning", "")
    if not isinstance(reasoning, str) or len(reasoning) > MAX_REASONING_CHARS:
        raise InputError("bad_history", f"history[{index}] has reasoning that is not text")
    knowledge = _knowledge(item.get("knowledge"), item.get("sources"), index)
    if knowledge is not None:
        knowledge = replace(
            knowledge,
            files=_file_names(item.get("files"), index),
            partial=_file_names(item.get("partial"), index),
        )
    return state, clean_text(error), usage, clean_text(reasoning), knowledge


def _file_names(raw: object, index: int) -> tuple[str, ...]:
    """The attached files an answer names (sent whole, or in part): a short list of names."""
    if raw is None:
        return ()
    if (
        not isinstance(raw, list)
        or len(raw) > MAX_ATTACHMENTS
        or not all(isinstance(n, str) and 0 < len(n) <= ATTACHMENT_NAME_CHARS for n in raw)
    ):
        raise InputError("bad_history", f"history[{index}] names attached files wrongly")
    return tuple(clean_text(n) for n in raw)


def _knowledge(state: object, raw: object, index: int) -> Knowledge | None:
    """How the knowledge base served a saved answer, and the passages listed under it."""

    def refuse(why: str) -> InputError:
        return InputError("bad_history", f"history[{index}].sources {why}")

    if state is None:
        if raw is not None:
            raise refuse("come without a knowledge state")
        return None
    if state not in KNOWLEDGE_STATES:
        raise InputError("bad_history", f"history[{index}] has an unknown knowledge state")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or len(raw) > MAX_SOURCES:
        raise refuse(f"is not a list of at most {MAX_SOURCES}")
    sources = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - SOURCE_KEYS:
            raise refuse("holds something that is not a source")
        path, heading = item.get("path"), item.get("heading", "")
        page, excerpt = item.get("page"), item.get("excerpt", "")
        if not isinstance(path, str) or not 0 < len(path) <= MAX_SOURCE_PATH_CHARS:
            raise refuse("holds a source without a file")
        if not isinstance(heading, str) or len(heading) > MAX_SOURCE_HEADING_CHARS:
            raise refuse("holds a heading that is not short text")
        if page is not None and not (type(page) is int and 0 < page <= MAX_COUNT):
            raise refuse("holds a page that is not a page number")
        if not isinstance(excerpt, str) or len(excerpt) > MAX_SOURCE_EXCERPT_CHARS:
            raise refuse("holds an excerpt that is not short text")
        sources.append(
            ShownSource(clean_text(path), clean_text(heading), page, clean_text(excerpt))
        )
    return Knowledge(str(state), tuple(sources), found=len(sources))


def _usage(raw: object, index: int) -> Usage:
    def refuse(why: str) -> InputError:
        return InputError("bad_history", f"history[{index}].usage {why}")

    if not isinstance(raw, dict) or set(raw) - USAGE_KEYS:
        raise refuse("is not a usage object")
    model = raw.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= MAX_NAME_CHARS:
        raise refuse("has no model name")
    counts = [raw.get("prompt_tokens"), raw.get("completion_tokens")]
    if not all(type(c) is int and 0 <= c <= MAX_COUNT for c in counts):
        raise refuse("has token counts that are not counts")
    speed = raw.get("tokens_per_second")
    if speed is not None and (
        type(speed) not in (int, float) or not math.isfinite(speed) or not 0 <= speed <= MAX_COUNT
    ):
        raise refuse("has a speed that is not a number")
    source = raw.get("speed_source", SpeedSource.SERVER.value)
    if source not in {s.value for s in SpeedSource}:
        raise refuse("has an unknown speed source")
    tokens = raw.get("token_source", TokenSource.SERVER.value)
    if tokens not in {s.value for s in TokenSource}:
        raise refuse("has an unknown token source")
    reason = raw.get("done_reason", "stop")
    if not isinstance(reason, str) or len(reason) > 40:
        raise refuse("has a done reason that is not a word")
    return Usage(
        model=clean_text(model),
        prompt_tokens=int(counts[0] or 0),
        completion_tokens=int(counts[1] or 0),
        tokens_per_second=None if speed is None else float(speed),
        load_seconds=None,
        total_seconds=0.0,
        done_reason=clean_text(reason),
        speed_source=SpeedSource(source),
        token_source=TokenSource(tokens),
    )


def read_import(
    text: str, limits: PromptLimits, presets: Presets, allowed_models: tuple[str, ...]
) -> dict[str, object]:
    """An exported conversation file, checked like a saved one, as the browser will store it.

    Settings this server does not offer (another deployment's preset or model) are left out, so
    the conversation opens with this server's defaults instead of being refused whole.
    """
    raw = read_json(text, IMPORT_DEPTH, reason="not_a_conversation", default="null")
    if (
        not isinstance(raw, dict)
        or raw.get("format") != EXPORT_FORMAT
        # Exactly the whole number: `true` and `1.0` equal 1 in Python, and are not version 1.
        or type(raw.get("version")) is not int
        or raw.get("version") != EXPORT_VERSION
        or not isinstance(raw.get("turns"), list)
        or not raw["turns"]
    ):
        raise InputError("not_a_conversation", "not an exported coda conversation")
    try:
        turns = read_saved_turns(raw["turns"], limits)
    except InputError as exc:
        raise InputError("not_a_conversation", exc.detail) from None
    title = raw.get("title", "")
    if not isinstance(title, str):
        raise InputError("not_a_conversation", "title is not text")
    imported: dict[str, object] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "title": clean_text(title.strip())[:MAX_TITLE_CHARS],
        "turns": [_turn_fields(turn) for turn in turns],
    }
    settings = _settings(raw.get("settings"), limits, presets, allowed_models)
    if settings is not None:
        imported["settings"] = settings
    return imported


def _turn_fields(turn: SavedTurn) -> dict[str, object]:
    fields: dict[str, object] = {
        "role": turn.message.role.value,
        "content": turn.message.content,
        "state": turn.state,
    }
    if turn.error:
        fields["error"] = turn.error
    if turn.usage is not None:
        fields["usage"] = usage_fields(turn.usage)
    if turn.reasoning:
        fields["reasoning"] = turn.reasoning
    if turn.knowledge is not None:
        fields.update(turn.knowledge.fields())
    return fields


def _settings(
    raw: object, limits: PromptLimits, presets: Presets, allowed_models: tuple[str, ...]
) -> dict[str, object] | None:
    """An imported conversation's settings, when this server offers them; else None."""
    if not isinstance(raw, dict):
        return None
    fields = raw.get("fields", {})
    values = [raw.get(k, "") for k in ("preset", "temperature", "max_tokens", "model")]
    if not isinstance(fields, dict) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values
    ):
        return None
    preset, temperature, max_tokens, model = (str(v) for v in values)
    form = {"preset": preset, "temperature": temperature, "max_tokens": max_tokens}
    form |= {FIELD_PREFIX + str(k): v for k, v in fields.items() if isinstance(v, str)}
    try:
        chosen = read_settings(form, presets, limits.max_tokens).chosen
    except InputError:
        return None
    if model and model not in allowed_models:
        return None
    return {
        "preset": chosen.preset.id,
        # A conversation keeps its choices, never what was typed in a text field.
        "fields": {f.id: chosen.values[f.id] for f in chosen.preset.fields if f.kind == "choice"},
        "temperature": temperature,
        "max_tokens": max_tokens,
        "model": model,
    }
