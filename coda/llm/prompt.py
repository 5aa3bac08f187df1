"""The messages sent to the model: the server's system prompt, the history that fits, the question.

The server owns the system prompt and decides what history fits the context window. The input has
been validated by the web tier before it gets here (`coda.frontend.posted_turn`); this module only
measures and trims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coda.llm.types import Message, Role

# Tokens a chat template adds around each message (role markers, separators).
MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True, kw_only=True)
class PromptLimits:
    """The size rules for one turn: what a user may send, and what the model may be sent."""

    max_message_chars: int
    max_history_messages: int
    max_history_chars: int
    context_length: int
    max_tokens: int


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate, so trimmed history always fits the context window.

    No tokenizer is at hand on the web tier. Subword tokenizers spend about a token per four ASCII
    characters; for Japanese, Qwen-family vocabularies spend up to one token per character, so each
    non-ASCII character counts as one.
    """
    ascii_chars = sum(1 for ch in text if ch.isascii())
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars) + MESSAGE_OVERHEAD_TOKENS


def history_budget(system_prompt: str, question: str, limits: PromptLimits) -> int:
    """Tokens left for earlier turns once the system prompt, the question and the answer fit.

    Negative when the question alone does not fit: the caller refuses it before building a prompt.
    """
    return (
        limits.context_length
        - limits.max_tokens
        - estimate_tokens(system_prompt)
        - estimate_tokens(question)
    )


def build_messages(
    system_prompt: str,
    history: Sequence[Message],
    question: str,
    limits: PromptLimits,
) -> list[Message]:
    """System prompt + as much recent history as fits + the question.

    History is dropped oldest-first until it fits the message count, character and token budgets;
    the kept part never starts with an assistant turn, which would read as the model talking first.
    """
    budget = history_budget(system_prompt, question, limits)
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
    return [Message(Role.SYSTEM, system_prompt), *kept, Message(Role.USER, question)]
