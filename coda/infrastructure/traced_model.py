"""Every answer an LLM span, named and filled in by OpenTelemetry's GenAI semantic conventions.

A `ChatModel` around the configured one, built by the composition root only when tracing is on:
the views, the reader of an answer and the adapters stay as they are. The span starts when the
answer is first read (on the reader greenlet, which carries the request's context, so the span
is a child of the request's span) and ends however the answer ends: with usage (`done`), with an
`LLMError` (`error`, and `error.type` the error's kind), or closed early because nobody reads it
any more (`stopped`). The model server's HTTP span (httpx's instrumentation) sits beneath it.
`coda.first_token` marks the answer's first text; a thinking model's first reasoning, which comes
before it, is `coda.first_thinking_token`.

Prompt and answer text go on the span only when `record_content` says so (`CODA_TRACE_CONTENT`).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, use_span

from coda.llm import ChatModel, Chunk, GenerationOptions, LLMError, Message, Role, Usage

OPERATION = "chat"
FIRST_TOKEN_EVENT = "coda.first_token"  # noqa: S105 - an event name: the answer's first text
FIRST_THINKING_EVENT = "coda.first_thinking_token"  # a thinking model's first reasoning


@dataclass(frozen=True)
class TraceTarget:
    """What the spans say about where answers come from, and whether they hold text."""

    provider: str  # gen_ai.provider.name: the API spoken, `ollama` or `openai`
    server_url: str
    record_content: bool


class TracedChatModel:
    """`ChatModel` whose every answer is one span; everything else is the inner model's."""

    def __init__(self, inner: ChatModel, tracer: Tracer, target: TraceTarget) -> None:
        self._inner = inner
        self._tracer = tracer
        self._target = target

    @property
    def model(self) -> str:
        return self._inner.model

    def with_model(self, name: str) -> ChatModel:
        return TracedChatModel(self._inner.with_model(name), self._tracer, self._target)

    def list_models(self) -> list[str]:
        return self._inner.list_models()

    def preload(self, options: GenerationOptions) -> None:
        self._inner.preload(options)

    def close(self) -> None:
        self._inner.close()

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        """The inner answer, chunk for chunk, inside its span; nothing starts until it is read."""
        span = self._tracer.start_span(
            f"{OPERATION} {self.model}",
            kind=SpanKind.CLIENT,
            attributes=request_attributes(self.model, options, self._target),
        )
        if self._target.record_content:
            span.set_attributes(content_attributes(messages))
        outcome, first_token, first_thought, text = "stopped", False, False, list[str]()
        try:
            # The span is current while the inner model reads, so the HTTP call nests beneath it;
            # the outcome is ours to set, not the exception's (closing early is no failure).
            with use_span(span, record_exception=False, set_status_on_exception=False):
                answer = self._inner.stream(messages, options)
                try:
                    for chunk in answer:
                        if chunk.text and not first_token:  # a chunk may come without text
                            first_token = True
                            span.add_event(FIRST_TOKEN_EVENT)
                        if chunk.thinking and not first_thought:  # reasoning is not the answer
                            first_thought = True
                            span.add_event(FIRST_THINKING_EVENT)
                        if self._target.record_content:
                            text.append(chunk.text)
                        if chunk.usage is not None:
                            outcome = "done"
                            span.set_attributes(usage_attributes(chunk.usage))
                        yield chunk
                finally:
                    answer.close()
        except LLMError as exc:
            outcome = "error"
            span.set_attribute("error.type", exc.kind)
            span.set_status(Status(StatusCode.ERROR, exc.kind))
            raise
        finally:
            span.set_attribute("coda.outcome", outcome)
            if self._target.record_content:
                span.set_attribute("gen_ai.output.messages", output_messages("".join(text)))
            span.end()


def request_attributes(
    model: str, options: GenerationOptions, target: TraceTarget
) -> dict[str, Any]:
    server = urlsplit(target.server_url)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": target.provider,
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": options.temperature,
        "gen_ai.request.top_p": options.top_p,
        "gen_ai.request.top_k": options.top_k,
        "gen_ai.request.max_tokens": options.max_tokens,
        "server.address": server.hostname or "",
    }
    if server.port is not None:
        attributes["server.port"] = server.port
    if options.seed is not None:
        attributes["gen_ai.request.seed"] = options.seed
    return attributes


def usage_attributes(usage: Usage) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.response.model": usage.model,
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.response.finish_reasons": (usage.done_reason,),
        "coda.attempts": usage.attempts,
        # `estimated`: the server sent no counts, the two above are coda's estimate.
        "coda.usage.token_source": usage.token_source.value,
    }
    if usage.tokens_per_second is not None:
        attributes["coda.tokens_per_second"] = usage.tokens_per_second
    if usage.load_seconds is not None:
        attributes["coda.model_load_seconds"] = usage.load_seconds
    return attributes


def content_attributes(messages: Sequence[Message]) -> dict[str, str]:
    """The prompt as the conventions' JSON: system instructions apart from the chat history."""
    system = [_part(m.content) for m in messages if m.role is Role.SYSTEM]
    history = [
        {"role": m.role.value, "parts": [_part(m.content)]}
        for m in messages
        if m.role is not Role.SYSTEM
    ]
    attributes = {"gen_ai.input.messages": _json(history)}
    if system:
        attributes["gen_ai.system_instructions"] = _json(system)
    return attributes


def output_messages(text: str) -> str:
    return _json([{"role": Role.ASSISTANT.value, "parts": [_part(text)]}])


def _part(text: str) -> dict[str, str]:
    return {"type": "text", "content": text}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
