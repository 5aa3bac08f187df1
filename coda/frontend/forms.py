"""Reading what the browser posts: the new message and the history it sends back each turn."""

from __future__ import annotations

import json
from collections.abc import Mapping

from coda.config import Settings
from coda.llm import InvalidRequestError, Message, PromptLimits, build_messages, parse_history

STATES = frozenset({"done", "stopped", "error"})


def _history_json(form: Mapping[str, str]) -> object:
    raw = form.get("history", "").strip() or "[]"
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidRequestError("bad_history", "history is not valid JSON") from None


def read_turn(form: Mapping[str, str], settings: Settings) -> tuple[str, list[Message]]:
    """The message as typed and the prompt for the model; raises `InvalidRequestError`."""
    limits = PromptLimits.from_settings(settings)
    history = parse_history(_history_json(form), limits)
    message = form.get("message", "")
    return message.strip(), build_messages(settings.system_prompt, history, message, limits)


def read_saved_conversation(
    form: Mapping[str, str], settings: Settings
) -> list[tuple[Message, str]]:
    """A conversation saved in the browser, each message with the state it ended in."""
    raw = _history_json(form)
    if not isinstance(raw, list):
        raise InvalidRequestError("bad_history", "history is not a list")
    states: list[str] = []
    stripped: list[object] = []
    for item in raw:
        if isinstance(item, dict):
            state = item.get("state", "done")
            states.append(state if state in STATES else "done")
            stripped.append({k: v for k, v in item.items() if k != "state"})
        else:
            stripped.append(item)
    history = parse_history(stripped, PromptLimits.from_settings(settings))
    return list(zip(history, states, strict=True))
