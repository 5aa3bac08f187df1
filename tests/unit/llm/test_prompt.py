"""Prompt building: the server's system prompt leads, history is trimmed oldest-first."""

from __future__ import annotations

from coda.llm import (
    Message,
    PromptLimits,
    Role,
    build_messages,
    estimate_tokens,
    history_budget,
    without_older_turns,
)
from coda.llm.prompt import MESSAGE_OVERHEAD_TOKENS, PROMPT_OVERHEAD_TOKENS
from tests.support.settings import PROMPT_LIMITS

LIMITS = PROMPT_LIMITS


def turns(n: int, size: int = 10) -> list[Message]:
    roles = [Role.USER, Role.ASSISTANT]
    return [Message(roles[i % 2], f"{i:03d}" + "x" * (size - 3)) for i in range(n)]


def test_system_prompt_comes_from_the_server_and_leads() -> None:
    history = [Message(Role.USER, "hi")]

    messages = build_messages("SERVER PROMPT", history, "question", LIMITS)

    assert messages[0] == Message(Role.SYSTEM, "SERVER PROMPT")
    assert messages[-1] == Message(Role.USER, "question")
    assert [m.role for m in messages].count(Role.SYSTEM) == 1


def test_history_beyond_the_message_count_is_dropped_oldest_first() -> None:
    history = turns(14)

    messages = build_messages("s", history, "q", LIMITS)

    kept = messages[1:-1]
    assert kept == history[-10:]


def test_history_is_trimmed_to_the_token_budget() -> None:
    # A kanji is three UTF-8 bytes, so at most three tokens: 2048 - 512 leaves room for 3 of these.
    history = [Message([Role.USER, Role.ASSISTANT][i % 2], "語" * 150) for i in range(8)]
    limits = PromptLimits(
        max_message_chars=100,
        max_history_messages=100,
        max_history_chars=100_000,
        context_length=2048,
        max_tokens=512,
    )

    messages = build_messages("s", history, "q", limits)

    total = sum(estimate_tokens(m.content) for m in messages)
    assert total <= limits.context_length - limits.max_tokens
    assert messages[1:-1] == history[-2:]


def test_kept_history_never_starts_with_an_assistant_turn() -> None:
    history = turns(11)  # user, assistant, ..., user: the last 10 start with an assistant turn

    messages = build_messages("s", history, "q", LIMITS)

    assert messages[1].role is Role.USER
    assert messages[1:-1] == history[-9:]


def test_estimate_counts_japanese_higher_than_ascii() -> None:
    assert estimate_tokens("あいうえお") > estimate_tokens("abcde")
    assert estimate_tokens("") > 0


def test_history_budget_goes_negative_when_the_question_alone_is_too_big() -> None:
    fits = history_budget("s", "q", LIMITS)
    too_big = history_budget("s", "語" * 2000, LIMITS)

    assert fits == 2048 - 512 - PROMPT_OVERHEAD_TOKENS - estimate_tokens("s") - estimate_tokens("q")
    assert too_big < 0


# What the test model's tokenizer (Gemma 3) spent on each, measured on the real Ollama as
# `prompt_eval_count` less the empty question's 9 (tests/integration/llm/test_token_estimate.py
# checks the bound against the server itself).
MEASURED = {"1000 digits": ("3141592653" * 100, 1000), "emoji": ("👨‍👩‍👧‍👦🇯🇵", 20)}


def test_the_estimate_bounds_what_a_token_per_digit_tokenizer_spends() -> None:
    for text, at_least in MEASURED.values():
        assert estimate_tokens(text) - MESSAGE_OVERHEAD_TOKENS >= at_least


def test_the_estimate_is_the_utf8_length_of_the_longer_of_the_text_and_its_nfc_form() -> None:
    assert estimate_tokens("abc") == 3 + MESSAGE_OVERHEAD_TOKENS
    assert estimate_tokens("語") == 3 + MESSAGE_OVERHEAD_TOKENS
    # U+0958 (DEVANAGARI LETTER QA) is excluded from composition: NFC writes it as two
    # characters, six bytes instead of three.
    assert estimate_tokens("\u0958") == 6 + MESSAGE_OVERHEAD_TOKENS


def test_a_refused_prompt_loses_the_older_half_of_its_history_and_says_how_much() -> None:
    history = turns(6)
    prompt = build_messages("s", history, "q", LIMITS)

    shorter = without_older_turns(prompt)

    assert shorter is not None
    trimmed, dropped = shorter
    assert trimmed == [prompt[0], *history[3:][1:], prompt[-1]]  # never opens with an answer
    assert dropped == 4
    assert without_older_turns([prompt[0], prompt[-1]]) is None
