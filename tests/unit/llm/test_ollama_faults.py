"""What only the Ollama adapter does with Ollama's own wire format, replayed byte for byte.

The faults both adapters must handle alike are in test_adapter_faults.py; the real server's
behaviour is in tests/integration/llm.
"""

from __future__ import annotations

import json

import httpx

from coda.llm import Message, Role
from tests.support.replayed import OLLAMA, OLLAMA_DONE, OLLAMA_TAGS, OPTIONS, ollama_line

MESSAGES = [Message(Role.USER, "hi")]


def test_usage_is_converted_from_nanoseconds() -> None:
    model = OLLAMA.model(lambda _: OLLAMA.ok(ollama_line("a") + ollama_line("b") + OLLAMA_DONE))

    chunks = list(model.stream(MESSAGES, OPTIONS))

    assert [c.text for c in chunks] == ["a", "b", ""]
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 20)
    assert usage.tokens_per_second == 20.0
    assert (usage.load_seconds, usage.total_seconds) == (0.5, 2.0)


def test_request_carries_options_and_the_messages() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return OLLAMA.ok(OLLAMA_DONE)

    list(OLLAMA.model(handler).stream(MESSAGES, OPTIONS))

    (body,) = seen
    assert body["model"] == "m:1"
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["options"] == {
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "num_predict": 1024,
        "num_ctx": 8192,
    }


def test_listing_answers_to_a_bare_name_for_latest_as_ollama_does() -> None:
    model = OLLAMA.model(lambda _: httpx.Response(200, json=OLLAMA_TAGS))

    assert model.list_models() == ["m:1", "other:latest", "other"]
