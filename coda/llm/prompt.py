"""Turning what a browser posts into the messages sent to the model.

The server owns the system prompt and decides what history fits: a client can only offer user and
assistant turns, and anything malformed is refused before a single byte goes upstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coda.config import Settings
from coda.llm.errors import InvalidRequestError
from coda.llm.types import Message, Role

# Tokens a chat template adds around each message (role markers, separators).
MESSAGE_OVERHEAD_TOKENS = 4
CLIENT_ROLES = frozenset({Role.USER.value, Role.ASSISTANT.value})


@dataclass(frozen=True, kw_only=True)
class PromptLimits:
    """The size rules for one turn, taken from settings."""

    max_message_chars: int
    max_history_messages: int
    max_history_chars: int
    context_length: int
    max_tokens: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptLimits:
        return cls(
            max_message_chars=settings.max_message_chars,
            max_history_messages=settings.max_history_messages,
            max_history_chars=settings.max_history_chars,
            context_length=settings.context_length,
            max_tokens=settings.max_tokens,
        )


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate, so trimmed history always fits the context window.

    No tokenizer is at hand on the web tier. Subword tokenizers spend about a token per four ASCII
    characters; for Japanese, Qwen-family vocabularies spend up to one token per character, so each
    non-ASCII character counts as one.
    """
    ascii_chars = sum(1 for ch in text if ch.isascii())
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars) + MESSAGE_OVERHEAD_TOKENS


def parse_history(raw: object, limits: PromptLimits) -> list[Message]:
    """Validate client-sent history: a list of {role, content} with user/assistant roles only."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequestError("bad_history", "history is not a list")
    history: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"role", "content"}:
            raise InvalidRequestError("bad_history", f"history[{index}] is not a message object")
        role, content = item.get("role"), item.get("content")
        if role not in CLIENT_ROLES:
            raise InvalidRequestError("bad_history", f"history[{index}] has role {role!r}")
        if not isinstance(content, str):
            raise InvalidRequestError("bad_history", f"history[{index}] content is not text")
        if len(content) > limits.max_history_chars:
            raise InvalidRequestError(
                "bad_history", f"history[{index}] is {len(content)} characters long"
            )
        history.append(Message(Role(role), content))
    return history


def validate_message(text: str, limits: PromptLimits) -> str:
    """The new user message: not blank, not over the limit. Returns it stripped."""
    stripped = text.strip()
    if not stripped:
        raise InvalidRequestError("empty", "message is empty")
    if len(stripped) > limits.max_message_chars:
        raise InvalidRequestError(
            "message_too_long",
            f"message is {len(stripped)} characters long",
            limit=limits.max_message_chars,
            length=len(stripped),
        )
    return stripped


def build_messages(
    system_prompt: str,
    history: Sequence[Message],
    message: str,
    limits: PromptLimits,
) -> list[Message]:
    """System prompt + as much recent history as fits + the new message.

    History is dropped oldest-first until it fits the message count, character and token budgets;
    the kept part never starts with an assistant turn, which would read as the model talking first.
    """
    text = validate_message(message, limits)
    system = Message(Role.SYSTEM, system_prompt)
    question = Message(Role.USER, text)
    budget = (
        limits.context_length
        - limits.max_tokens
        - estimate_tokens(system.content)
        - estimate_tokens(question.content)
    )
    if budget < 0:
        raise InvalidRequestError(
            "message_too_long",
            f"message needs ~{estimate_tokens(text)} tokens, more than the context allows",
            limit=limits.max_message_chars,
            length=len(text),
        )
    kept: list[Message] = []
    chars = 0
    for turn in reversed(history):
        cost = estimate_tokens(turn.content)
        if (
            len(kept) >= limits.max_history_messages
            or chars + len(turn.content) > limits.max_history_chars
            or cost > budget
        ):
            break
        kept.append(turn)
        chars += len(turn.content)
        budget -= cost
    kept.reverse()
    while kept and kept[0].role is Role.ASSISTANT:
        kept.pop(0)
    return [system, *kept, question]
