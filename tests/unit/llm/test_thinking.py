"""Thinking models through both adapters: reasoning apart from the answer, and turned off.

The bytes are each API's documented format (tests/support/replayed.py says where from); the real
test model does not think, so a real server cannot produce them here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from coda.llm import Message, Role
from tests.support.replayed import (
    OLLAMA,
    OPENAI,
    OPENAI_END,
    OPENAI_OPENING,
    OPTIONS,
    ollama_done,
    ollama_line,
    ollama_thinking_line,
    openai_chunk,
    openai_reasoning,
    openai_usage,
)

MESSAGES = [Message(Role.USER, "hi")]


def test_ollama_reasoning_arrives_as_thinking_never_as_text() -> None:
    body = (
        ollama_thinking_line("Let me see. ")
        + ollama_thinking_line("2 + 2 = 4.")
        + ollama_line("4")
        + ollama_done()
    )

    chunks = list(OLLAMA.model(lambda _: OLLAMA.ok(body)).stream(MESSAGES, OPTIONS))

    assert "".join(c.thinking for c in chunks) == "Let me see. 2 + 2 = 4."
    assert "".join(c.text for c in chunks) == "4"


def test_ollama_reasoning_that_used_the_whole_length_ends_with_length_and_no_text() -> None:
    """The issue's input: 300 lines of reasoning only, then `done_reason: length`."""
    body = b"".join(ollama_thinking_line(f"step {i}. ") for i in range(300))
    body += ollama_done("length", eval_count=1024)

    chunks = list(OLLAMA.model(lambda _: OLLAMA.ok(body)).stream(MESSAGES, OPTIONS))

    assert all(not c.text for c in chunks)
    assert sum(1 for c in chunks if c.thinking) == 300
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.done_reason == "length"
    assert chunks[-1].usage.completion_tokens == 1024


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_openai_reasoning_arrives_as_thinking_never_as_text(key: str) -> None:
    body = (
        OPENAI_OPENING
        + openai_reasoning("Let me see. ", key)
        + openai_reasoning("2 + 2 = 4.", key)
        + openai_chunk("4")
        + openai_chunk(finish="stop")
        + openai_usage()
        + OPENAI_END
    )

    chunks = list(OPENAI.model(lambda _: OPENAI.ok(body)).stream(MESSAGES, OPTIONS))

    assert "".join(c.thinking for c in chunks) == "Let me see. 2 + 2 = 4."
    assert "".join(c.text for c in chunks) == "4"


def test_openai_reasoning_that_used_the_whole_length_ends_with_length() -> None:
    body = OPENAI_OPENING + b"".join(openai_reasoning(f"step {i}. ") for i in range(300))
    body += openai_chunk(finish="length") + openai_usage(completion=1024) + OPENAI_END

    chunks = list(OPENAI.model(lambda _: OPENAI.ok(body)).stream(MESSAGES, OPTIONS))

    assert all(not c.text for c in chunks)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.done_reason == "length"


def test_thinking_turned_off_is_asked_of_each_api_in_its_own_words() -> None:
    sent: dict[str, dict[str, object]] = {}

    def recorder(name: str, answer: bytes) -> Callable[[httpx.Request], httpx.Response]:
        def handler(request: httpx.Request) -> httpx.Response:
            sent[name] = json.loads(request.content)
            return (OLLAMA if name == "ollama" else OPENAI).ok(answer)

        return handler

    off = replace(OPTIONS, think=False)
    list(OLLAMA.model(recorder("ollama", ollama_done())).stream(MESSAGES, off))
    openai_body = OPENAI_OPENING + openai_chunk(finish="stop") + openai_usage() + OPENAI_END
    list(OPENAI.model(recorder("openai", openai_body)).stream(MESSAGES, off))

    assert sent["ollama"]["think"] is False
    assert sent["openai"]["chat_template_kwargs"] == {"enable_thinking": False}


def test_nothing_about_thinking_is_sent_unless_it_is_turned_off() -> None:
    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return OLLAMA.ok(ollama_done())

    list(OLLAMA.model(handler).stream(MESSAGES, OPTIONS))

    assert "think" not in sent[0]
