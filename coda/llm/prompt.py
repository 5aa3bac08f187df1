"""The messages sent to the model: the server's system prompt, the history that fits, the question.

The server owns the system prompt and decides what history fits the context window. The input has
been validated by the web tier before it gets here (`coda.frontend.reading.posted_turn`); this
module only measures and trims.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from coda.llm.types import Message, Role

# Tokens a chat template adds around each message: ChatML (Qwen2.5, so TinySwallow) writes
# `<|im_start|>` role `\n` … `<|im_end|>` `\n`, Gemma 3 `<start_of_turn>` role `\n` …
# `<end_of_turn>` `\n`: five each.
MESSAGE_OVERHEAD_TOKENS = 5
# Once per prompt: the opened answer turn (`<|im_start|>assistant\n`, three tokens) and Gemma's
# BOS. Measured on the real Ollama with the test model: an empty question costs 5 + 4 = 9.
PROMPT_OVERHEAD_TOKENS = 4


@dataclass(frozen=True, kw_only=True)
class PromptLimits:
    """The size rules for one turn: what a user may send, and what the model may be sent."""

    max_message_chars: int
    max_history_messages: int
    max_history_chars: int
    context_length: int
    max_tokens: int


def estimate_tokens(text: str) -> int:
    """An upper bound on the tokens `text` costs as one message, for the shipped models.

    No tokenizer is at hand on the web tier (Ollama offers none over its API), and an average
    (four ASCII characters a token) is no bound: Qwen-family and Gemma tokenizers spend a token
    per digit, and several on an emoji or a rare kanji. Both shipped tokenizers, Qwen2.5's
    byte-level BPE (TinySwallow) and Gemma 3's SentencePiece with byte fallback (the test model),
    turn every byte into a token at worst: each token stands for one byte of the text or more. So
    the UTF-8 length bounds the count; Qwen's tokenizer first NFC-normalizes, which lengthens a
    few characters, so the longer form counts. The bound is loose for prose (about four times
    the real count for English and Japanese, exact for digits; docs/architecture.md has the
    measurements): a prompt past the window never reaches the server unannounced, at the price of
    sending less history.
    """
    size = len(text.encode())
    if not text.isascii():  # ASCII is already NFC
        size = max(size, len(unicodedata.normalize("NFC", text).encode()))
    return size + MESSAGE_OVERHEAD_TOKENS


def history_budget(system_prompt: str, question: str, limits: PromptLimits) -> int:
    """Tokens left for earlier turns once the system prompt, the question and the answer fit.

    Negative when the question alone does not fit: the caller refuses it before building a prompt.
    """
    return (
        limits.context_length
        - limits.max_tokens
        - PROMPT_OVERHEAD_TOKENS
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


def without_older_turns(prompt: Sequence[Message]) -> tuple[list[Message], int] | None:
    """The prompt `build_messages` made with the older half of its history left out, and how many
    messages that left out; None when it has no history left to leave out.

    For a server that refused the prompt as longer than its window, although the estimate said
    it fits (a model whose tokenizer the estimate does not bound): halving converges in a few
    requests, each refused at once, before anything was generated.
    """
    history = list(prompt[1:-1])
    if not history:
        return None
    kept = history[len(history) - len(history) // 2 :]
    while kept and kept[0].role is Role.ASSISTANT:
        kept.pop(0)
    return [prompt[0], *kept, prompt[-1]], len(history) - len(kept)


def prompt_estimate(prompt: Sequence[Message]) -> int:
    """The upper bound of what a whole prompt costs: every message, and the prompt's own share."""
    return PROMPT_OVERHEAD_TOKENS + sum(estimate_tokens(m.content) for m in prompt)
