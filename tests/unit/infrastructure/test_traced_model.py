"""The LLM span's first-token event marks the first text, whatever chunks come before it."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from coda.infrastructure.bootstrap import generation_options
from coda.infrastructure.traced_model import (
    FIRST_THINKING_EVENT,
    FIRST_TOKEN_EVENT,
    TracedChatModel,
    TraceTarget,
)
from coda.llm import Message, Role
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel


def test_the_first_token_event_waits_for_text() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    target = TraceTarget(provider="ollama", server_url="http://127.0.0.1:1", record_content=False)
    model = TracedChatModel(StubModel(texts=["", "ok"]), provider.get_tracer("test"), target)

    chunks = list(model.stream([Message(Role.USER, "hi")], generation_options(WEB_SETTINGS)))

    (span,) = exporter.get_finished_spans()
    assert [chunk.text for chunk in chunks] == ["", "ok", ""]
    assert [event.name for event in span.events] == [FIRST_TOKEN_EVENT]
    assert span.attributes is not None
    assert span.attributes["coda.outcome"] == "done"


def test_reasoning_has_its_own_event_before_the_answers_first_token() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    target = TraceTarget(provider="ollama", server_url="http://127.0.0.1:1", record_content=False)
    stub = StubModel(texts=["ok"], thoughts=["hmm", "so"])
    model = TracedChatModel(stub, provider.get_tracer("test"), target)

    list(model.stream([Message(Role.USER, "hi")], generation_options(WEB_SETTINGS)))

    (span,) = exporter.get_finished_spans()
    assert [event.name for event in span.events] == [FIRST_THINKING_EVENT, FIRST_TOKEN_EVENT]
    assert span.attributes is not None
    assert span.attributes["coda.usage.token_source"] == "server"
