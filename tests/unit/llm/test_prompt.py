"""Prompt building: the server's system prompt leads, history is trimmed oldest-first."""

from __future__ import annotations

from coda.llm import Message, PromptLimits, Role, build_messages, estimate_tokens, history_budget
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
    # Japanese text counts a token per character: 2048 - 512 leaves room for ~3 of these.
    history = [Message([Role.USER, Role.ASSISTANT][i % 2], "語" * 450) for i in range(8)]
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

    assert fits == 2048 - 512 - estimate_tokens("s") - estimate_tokens("q")
    assert too_big < 0
