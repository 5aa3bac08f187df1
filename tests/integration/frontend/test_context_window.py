"""A conversation longer than a small window, against the real Ollama and the real test model.

Ollama does not refuse a prompt past `num_ctx`: it drops the oldest messages itself, without a
word (server/prompt.go `chatPrompt`). So coda must never send one, and say what it left out.
"""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.client import post_turn
from tests.support.factories import AppFactory
from tests.support.html import attr, one
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.integration

WINDOW = 512
ANSWER = 24
# A token per digit for the test model's tokenizer (and TinySwallow's): about 1,000 tokens, which
# an average of four characters a token counted as 250.
DIGITS = "3141592653589793238462643383279502884197169399375105820974944592307816406286" * 13


def test_a_conversation_past_the_window_is_trimmed_and_says_so(
    ollama_server: OllamaServer, make_app: AppFactory, access_log: list[logging.LogRecord]
) -> None:
    client = make_app(ollama_server.host, context_length=WINDOW, max_tokens=ANSWER).test_client()
    history = [
        {"role": "user", "content": DIGITS},
        {"role": "assistant", "content": "はい。"},
        {"role": "user", "content": "次の数字は？"},
        {"role": "assistant", "content": "9 です。"},
    ]

    received = post_turn(client, "ありがとう。", history)

    assert received[-1].name == "done"
    assert int(attr(one(received[0].data, "#left-out"), "data-left-out")) >= 2
    assert json.loads(received[-1].data)["left_out"] >= 2
    (line,) = access_log
    # What the server read fits the window with the answer: nothing was cut on its side.
    assert line.prompt_tokens + ANSWER <= WINDOW  # type: ignore[attr-defined]
    # And coda's bound held for the whole prompt, template included.
    assert line.prompt_tokens <= line.prompt_estimate  # type: ignore[attr-defined]
