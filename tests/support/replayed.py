"""Both model-server APIs replayed byte for byte, for faults no real server produces on demand.

`OLLAMA` speaks `/api/chat` as Ollama does: NDJSON `ChatResponse` lines ending with a `done` line
that carries the counters, `{"error": "..."}` bodies, and error lines inside a 200 stream.
`OPENAI` speaks `/v1/chat/completions` as vLLM and Ollama's `/v1` do: Server-Sent Events of
`chat.completion.chunk` objects, a last chunk with `usage` and no choices, `data: [DONE]`,
`{"error": {...}}` bodies, and error events inside a 200 stream. The tests of the adapters'
common contract run against both (tests/unit/llm/test_adapter_faults.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import httpx

from coda.config import Settings
from coda.infrastructure.bootstrap import generation_options, server_config
from coda.llm import ChatModel, ServerConfig
from coda.llm.ollama import OllamaChatModel
from coda.llm.openai import OpenAIChatModel

MODEL = "m:1"
SETTINGS = Settings(model=MODEL, retry_attempts=3, retry_max_seconds=5, connect_timeout=1)
OPTIONS = generation_options(SETTINGS)
# An answer's 200 body: all at once, or piece by piece.
Body = bytes | Iterator[bytes]
Handler = Callable[[httpx.Request], httpx.Response]


# --- Ollama's /api/chat ------------------------------------------------------------------------


def ollama_line(content: str) -> bytes:
    part = {
        "model": MODEL,
        "created_at": "2026-11-21T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": False,
    }
    return json.dumps(part).encode() + b"\n"


def ollama_thinking_line(thinking: str) -> bytes:
    """A thinking model's reasoning as Ollama streams it (docs/api.md, "Chat request (with
    thinking)"): `message.thinking` set, `content` empty until the reasoning is done."""
    part = {
        "model": MODEL,
        "created_at": "2026-11-21T00:00:00Z",
        "message": {"role": "assistant", "content": "", "thinking": thinking},
        "done": False,
    }
    return json.dumps(part).encode() + b"\n"


def ollama_done(reason: str = "stop", eval_count: int = 20) -> bytes:
    """The last line, with the counters; `done_reason: length` when `num_predict` ran out."""
    part = json.loads(OLLAMA_DONE)
    part |= {"done_reason": reason, "eval_count": eval_count}
    return json.dumps(part).encode() + b"\n"


OLLAMA_DONE = (
    json.dumps(
        {
            "model": MODEL,
            "created_at": "2026-11-21T00:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 2_000_000_000,
            "load_duration": 500_000_000,
            "prompt_eval_count": 12,
            "prompt_eval_duration": 100_000_000,
            "eval_count": 20,
            "eval_duration": 1_000_000_000,
        }
    ).encode()
    + b"\n"
)

# What /api/tags answers (trimmed to the fields the client reads).
OLLAMA_TAGS = {
    "models": [
        {"name": MODEL, "model": MODEL, "size": 253_000_000, "digest": "abc"},
        {"name": "other:latest", "model": "other:latest", "size": 253_000_000, "digest": "abc"},
    ]
}


# --- OpenAI's /v1/chat/completions -------------------------------------------------------------


def sse_event(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def openai_chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    return sse_event(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_763_683_200,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )


def openai_reasoning(text: str, key: str = "reasoning_content") -> bytes:
    """Reasoning in a delta: vLLM's and llama.cpp's `reasoning_content` (vLLM docs, "Reasoning
    Outputs"), or `reasoning` (Ollama's /v1, openai/openai.go `Message.Reasoning`)."""
    return sse_event(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_763_683_200,
            "model": MODEL,
            "choices": [
                {"index": 0, "delta": {key: text}, "logprobs": None, "finish_reason": None}
            ],
        }
    )


def openai_usage(prompt: int = 12, completion: int = 20, **extra: object) -> bytes:
    counts = {"prompt_tokens": prompt, "completion_tokens": completion}
    return sse_event(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_763_683_200,
            "model": MODEL,
            "choices": [],
            "usage": {**counts, "total_tokens": prompt + completion},
            **extra,
        }
    )


# vLLM opens with the role and no text.
OPENAI_OPENING = sse_event(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_763_683_200,
        "model": MODEL,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    }
)
OPENAI_END = b"data: [DONE]\n\n"
OPENAI_FINISHED = openai_chunk(finish="stop") + openai_usage() + OPENAI_END


def openai_models(*names: str) -> dict[str, object]:
    """What `/v1/models` answers."""
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "vllm"} for n in names],
    }


# --- one object per API, for the tests both must pass ------------------------------------------


@dataclass(frozen=True)
class Wire:
    """One API's bytes for each situation the adapters' common contract covers."""

    name: str
    server: ServerConfig
    # The texts streamed, then the chunk with usage; the first text alone, the answer unfinished.
    answer: Callable[[Sequence[str]], bytes]
    partial: Callable[[str], bytes]
    # An error reported inside a stream that began with 200.
    error_in_stream: Callable[[str], bytes]
    error_body: Callable[[str], object]
    listing_path: str
    listing: object
    content_type: str
    build: Callable[..., ChatModel]

    def model(self, handler: Handler, *, auth: httpx.Auth | None = None) -> ChatModel:
        return self.build(self.server, auth=auth, transport=httpx.MockTransport(handler))

    def at(self, url: str, *, first_token_timeout: float) -> ChatModel:
        """The adapter over a real socket at `url` (the API's path added)."""
        path = "/v1" if self.name == "openai" else ""
        server = replace(self.server, url=url + path, first_token_timeout=first_token_timeout)
        return self.build(server)

    def ok(self, body: Body) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": self.content_type})

    def error(self, status: int, message: str) -> httpx.Response:
        return httpx.Response(status, json=self.error_body(message))


OLLAMA = Wire(
    name="ollama",
    server=server_config(SETTINGS),
    answer=lambda texts: b"".join(ollama_line(t) for t in texts) + OLLAMA_DONE,
    partial=ollama_line,
    error_in_stream=lambda message: json.dumps({"error": message}).encode() + b"\n",
    error_body=lambda message: {"error": message},
    listing_path="/api/tags",
    listing=OLLAMA_TAGS,
    content_type="application/x-ndjson",
    build=OllamaChatModel,
)

OPENAI = Wire(
    name="openai",
    server=server_config(
        replace(SETTINGS, provider="openai", openai_base_url="http://vllm.test/v1")
    ),
    answer=lambda texts: (
        OPENAI_OPENING + b"".join(openai_chunk(t) for t in texts) + OPENAI_FINISHED
    ),
    partial=lambda text: OPENAI_OPENING + openai_chunk(text),
    error_in_stream=lambda message: sse_event(
        {"error": {"message": message, "type": "InternalServerError"}}
    ),
    error_body=lambda message: {"error": {"message": message, "type": "api_error"}},
    listing_path="/v1/models",
    listing=openai_models(MODEL, "other:latest"),
    content_type="text/event-stream",
    build=OpenAIChatModel,
)

WIRES = [OLLAMA, OPENAI]
