"""Reading what the browser posts: the new message, the history it sends back each turn, and the
model it chose.

This is the one place a posted turn is read. Everything is checked here, before a byte goes to the
model: a client can only offer user and assistant turns within the size limits, only a model the
operator allowed, and the system prompt is the server's own. A refusal is an `InputError` naming
the rule that failed, so the page can say what to change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coda.llm import Message, PromptLimits, Role, build_messages, history_budget

CLIENT_ROLES = frozenset({Role.USER.value, Role.ASSISTANT.value})
SAVED_STATES = frozenset({"done", "stopped", "error"})
# History is a list of flat objects: deeper nesting is refused before it is parsed, so a hostile
# `[[[[...` never reaches the JSON parser's recursion.
HISTORY_DEPTH = 2
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
# UTF-16 halves without their other half: JSON can carry them (`"\ud800"`), UTF-8 cannot, so the
# page could not be sent and the model server could not be asked. They become U+FFFD, as a browser
# shows broken text, rather than refusing the turn: the conversation stays usable.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InputError(Exception):
    """What the user sent breaks a rule; nothing is sent upstream.

    `reason` picks the message (`error.invalid_request.<reason>` in the catalogue), `params` fill
    it in, and `detail` is for the log only.
    """

    kind = "invalid_request"  # the access log's `error_kind`

    def __init__(self, reason: str, detail: str, **params: Any) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.params: dict[str, Any] = {"reason": reason, **params}


# The longest model name an error message repeats back.
SHOWN_NAME_CHARS = 100


@dataclass(frozen=True)
class ModelMenu:
    """The models users may choose (`CODA_MODELS`), and the one a turn naming none gets."""

    default: str
    allowed: tuple[str, ...]

    @property
    def choosable(self) -> bool:
        """Whether the page shows a picker: only when there is something to choose."""
        return len(self.allowed) > 1


@dataclass(frozen=True)
class PostedTurn:
    """A validated turn: the message as the user wrote it, the prompt, and the model to ask."""

    message: str
    prompt: list[Message]
    model: str


def read_turn(
    form: Mapping[str, str], system_prompt: str, limits: PromptLimits, models: ModelMenu
) -> PostedTurn:
    """The turn the browser posted, or an `InputError` saying which rule it breaks."""
    model = choose_model(form.get("model", ""), models)
    history = parse_history(_history_json(form), limits)
    message = validate_message(form.get("message", ""), limits)
    if history_budget(system_prompt, message, limits) < 0:
        raise InputError(
            "message_too_long",
            f"message of {len(message)} characters does not fit the context window",
            limit=limits.max_message_chars,
            length=len(message),
        )
    return PostedTurn(message, build_messages(system_prompt, history, message, limits), model)


def choose_model(name: str, models: ModelMenu) -> str:
    """The model the page chose, checked against the allowed list; none chosen: the default."""
    chosen = name.strip()
    if not chosen:
        return models.default
    if chosen not in models.allowed:
        shown = chosen[:SHOWN_NAME_CHARS]
        raise InputError("unknown_model", f"model {shown!r} is not allowed", model=shown)
    return chosen


def read_saved_conversation(
    form: Mapping[str, str], limits: PromptLimits
) -> list[tuple[Message, str]]:
    """A conversation saved in the browser, each message with the state it ended in."""
    raw = _history_json(form)
    if not isinstance(raw, list):
        raise InputError("bad_history", "history is not a list")
    states: list[str] = []
    stripped: list[object] = []
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            state = item.get("state", "done")
            if not isinstance(state, str):
                raise InputError("bad_history", f"history[{index}] has a state that is not text")
            # A state this version does not know (an older or newer page) is shown as finished.
            states.append(state if state in SAVED_STATES else "done")
            stripped.append({k: v for k, v in item.items() if k != "state"})
        else:
            stripped.append(item)
    history = parse_history(stripped, limits)
    return list(zip(history, states, strict=True))


def parse_history(raw: object, limits: PromptLimits) -> list[Message]:
    """Client-sent history: a list of {role, content} with user/assistant roles only."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("bad_history", "history is not a list")
    history: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"role", "content"}:
            raise InputError("bad_history", f"history[{index}] is not a message object")
        role, content = item.get("role"), item.get("content")
        if not isinstance(role, str) or role not in CLIENT_ROLES:
            raise InputError("bad_history", f"history[{index}] has role {str(role)[:20]!r}")
        if not isinstance(content, str):
            raise InputError("bad_history", f"history[{index}] content is not text")
        if len(content) > limits.max_history_chars:
            raise InputError("bad_history", f"history[{index}] is {len(content)} characters long")
        history.append(Message(Role(role), clean_text(content)))
    return history


def validate_message(text: str, limits: PromptLimits) -> str:
    """The new user message: not blank, not over the limit. Returns it stripped and clean."""
    stripped = clean_text(text).strip()
    if not stripped:
        raise InputError("empty", "message is empty")
    if len(stripped) > limits.max_message_chars:
        raise InputError(
            "message_too_long",
            f"message is {len(stripped)} characters long",
            limit=limits.max_message_chars,
            length=len(stripped),
        )
    return stripped


def clean_text(text: str) -> str:
    """Text that UTF-8 can carry: lone surrogates become U+FFFD (see `_LONE_SURROGATE`)."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def json_depth(raw: str, limit: int) -> int:
    """How deeply `raw`'s arrays and objects nest, counting no further than `limit` + 1.

    Brackets inside strings do not count. Linear and non-recursive: it runs before the parser.
    """
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', raw)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
    return deepest


def _history_json(form: Mapping[str, str]) -> object:
    raw = form.get("history", "").strip() or "[]"
    if json_depth(raw, HISTORY_DEPTH) > HISTORY_DEPTH:
        raise InputError("bad_history", f"history nests deeper than {HISTORY_DEPTH} levels")
    try:
        return json.loads(raw)
    except ValueError:
        raise InputError("bad_history", "history is not valid JSON") from None
