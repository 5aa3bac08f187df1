"""One trace per chat turn, against the real Ollama: the request's span, the LLM span beneath it
(GenAI semantic conventions), and the model server's HTTP call beneath that.

The spans are read with the OpenTelemetry SDK's in-memory exporter, through the real SDK and the
real Flask and httpx instrumentations; only the export's destination differs from production.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from coda.frontend import services
from coda.infrastructure.app import create_app
from coda.infrastructure.tracing import TRACING_KEY, Tracing
from tests.support.live_app import LiveApp
from tests.support.ollama_server import TEST_MODEL, OllamaServer
from tests.support.otlp_sink import otlp_sink
from tests.support.settings import make_settings
from tests.support.sse import events

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
LONG = "1から1000まで、数字を一行ずつ書いてください。"


@dataclass
class Traced:
    """An app whose spans land in `exporter`, and the access log lines it wrote."""

    app: Flask
    exporter: InMemorySpanExporter
    log: list[logging.LogRecord]

    def spans(self, done: Callable[[list[ReadableSpan]], bool], timeout: float = 30) -> Any:
        """The finished spans once `done` says they are all there (an answer stopped by its
        client ends its span on the reader's side, a moment after the response)."""
        tracing: Tracing = self.app.extensions[TRACING_KEY]
        deadline = time.monotonic() + timeout
        while True:
            tracing.provider.force_flush()
            spans = list(self.exporter.get_finished_spans())
            if done(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)

    def access_line(self) -> dict[str, Any]:
        (record,) = [r for r in self.log if r.name == "coda.access"]
        return vars(record)


@pytest.fixture
def traced(ollama_server: OllamaServer) -> Iterator[Callable[..., Traced]]:
    """Apps over the real Ollama with an in-memory span exporter; httpx is uninstrumented after."""
    built: list[Flask] = []
    handler_log: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_log.append(record)

    keep = Keep()

    def build(**overrides: Any) -> Traced:
        exporter = InMemorySpanExporter()
        settings = make_settings(ollama_server.host, secret_key="k", **overrides)
        app = create_app(settings, span_exporter=exporter)
        app.config["WTF_CSRF_ENABLED"] = False
        logging.getLogger("coda.access").addHandler(keep)
        built.append(app)
        return Traced(app, exporter, handler_log)

    yield build
    logging.getLogger("coda.access").removeHandler(keep)
    for app in built:
        with app.app_context():
            services().chat_model.close()
        app.extensions[TRACING_KEY].provider.shutdown()
    HTTPXClientInstrumentor().uninstrument()


def named(spans: list[ReadableSpan], kind: SpanKind, prefix: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.kind == kind and s.name.startswith(prefix)]
    return span


def llm_span(spans: list[ReadableSpan]) -> ReadableSpan:
    return named(spans, SpanKind.CLIENT, "chat ")


def has_llm_span(spans: list[ReadableSpan]) -> bool:
    return any(s.name.startswith("chat ") for s in spans) and len(spans) >= 3


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def post(traced: Traced, message: str, headers: dict[str, str] | None = None) -> list[str | None]:
    client = traced.app.test_client()
    data = {"message": message, "history": "[]"}
    response = client.post("/chat", data=data, headers=headers or {}, buffered=False)
    try:
        return [event.name for event in events(response.response)]
    finally:
        response.close()


def test_a_done_answer_is_one_trace_continuing_the_callers(
    traced: Callable[..., Traced],
) -> None:
    app = traced()

    names = post(app, "こんにちは", {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})

    assert names[-1] == "done"
    spans = app.spans(has_llm_span)
    request = named(spans, SpanKind.SERVER, "POST")
    llm = llm_span(spans)
    http = named(spans, SpanKind.CLIENT, "POST")
    # One trace, the caller's: request <- LLM <- the call to Ollama.
    assert {s.context.trace_id for s in spans} == {int(TRACE_ID, 16)}
    assert request.parent is not None
    assert request.parent.span_id == int(PARENT_ID, 16)
    assert llm.parent is not None
    assert llm.parent.span_id == request.context.span_id
    assert http.parent is not None
    assert http.parent.span_id == llm.context.span_id
    assert attributes(http)["http.url"].endswith("/api/chat")
    # The GenAI conventions, with what the server reported.
    line = app.access_line()
    got = attributes(llm)
    assert llm.name == f"chat {TEST_MODEL}"
    assert got["gen_ai.operation.name"] == "chat"
    assert got["gen_ai.provider.name"] == "ollama"
    assert got["gen_ai.request.model"] == TEST_MODEL
    assert got["gen_ai.request.temperature"] == 0.0
    assert got["gen_ai.request.max_tokens"] == 24
    assert got["gen_ai.response.model"] == line["model"]
    assert got["gen_ai.usage.input_tokens"] == line["prompt_tokens"] > 0
    assert got["gen_ai.usage.output_tokens"] == line["completion_tokens"] > 0
    assert got["gen_ai.response.finish_reasons"] in (("stop",), ("length",))
    assert got["coda.outcome"] == "done"
    assert llm.status.status_code == StatusCode.UNSET
    assert [event.name for event in llm.events] == ["coda.first_token"]
    assert llm.start_time is not None
    assert llm.end_time is not None
    assert llm.start_time < llm.events[0].timestamp < llm.end_time
    # Neither prompt nor answer text unless CODA_TRACE_CONTENT says so.
    assert not [key for key in got if key.endswith("messages") or "instructions" in key]
    # The log line and the trace find each other.
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == format(request.context.span_id, "016x")
    assert attributes(request)["coda.request_id"] == line["request_id"]


def test_a_stopped_answer_ends_its_span_as_stopped_without_usage(
    traced: Callable[..., Traced],
) -> None:
    app = traced(max_tokens=2000, temperature=0.8)
    client = app.app.test_client()

    response = client.post("/chat", data={"message": LONG, "history": "[]"}, buffered=False)
    stream = events(response.response)
    next(e for e in stream if e.name is None and "beforeend" in e.data)
    response.close()  # the Stop button

    spans = app.spans(has_llm_span)
    got = attributes(llm_span(spans))
    assert got["coda.outcome"] == "stopped"
    assert "gen_ai.usage.output_tokens" not in got
    assert "gen_ai.response.finish_reasons" not in got
    assert llm_span(spans).status.status_code == StatusCode.UNSET
    assert app.access_line()["outcome"] == "stopped"


def test_a_failed_answer_marks_its_span_with_the_error_kind(
    traced: Callable[..., Traced],
) -> None:
    app = traced(model="not-on-the-server:1")

    names = post(app, "こんにちは", {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})

    assert names[-1] == "error"
    spans = app.spans(has_llm_span)
    llm = llm_span(spans)
    got = attributes(llm)
    assert got["coda.outcome"] == "error"
    assert got["error.type"] == "model_not_found"
    assert llm.status.status_code == StatusCode.ERROR
    assert "gen_ai.usage.input_tokens" not in got
    http = named(spans, SpanKind.CLIENT, "POST")
    assert attributes(http)["http.status_code"] == 404
    # Cloud Run's own header is continued too.
    assert {s.context.trace_id for s in spans} == {int(TRACE_ID, 16)}
    assert app.access_line()["error_kind"] == "model_not_found"


def test_prompt_and_answer_text_are_recorded_only_when_asked(
    traced: Callable[..., Traced],
) -> None:
    app = traced(trace_content=True, system_prompt="短く答えてください。")

    post(app, "富士山について")

    got = attributes(llm_span(app.spans(has_llm_span)))
    assert json.loads(got["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "短く答えてください。"}
    ]
    assert json.loads(got["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "富士山について"}]}
    ]
    (output,) = json.loads(got["gen_ai.output.messages"])
    assert output["role"] == "assistant"
    assert output["parts"][0]["content"]


def test_probes_and_static_files_make_no_spans(traced: Callable[..., Traced]) -> None:
    app = traced()
    client = app.app.test_client()

    for path in ("/healthz", "/readyz", "/static/coda.css"):
        with client.get(path) as response:
            assert response.status_code == 200

    tracing: Tracing = app.app.extensions[TRACING_KEY]
    tracing.provider.force_flush()
    server_spans = [s for s in app.exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server_spans == []


def test_under_gunicorns_gevent_worker_the_answer_stays_in_its_requests_trace(
    ollama_server: OllamaServer, app_factory: Callable[..., LiveApp]
) -> None:
    """Production's worker: the answer is read on a greenlet, and spans leave from the batch
    processor's thread, which gevent makes a greenlet; exported over OTLP/HTTP."""
    with otlp_sink() as sink:
        app = app_factory(
            ollama_server.host,
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.url,
            OTEL_BSP_SCHEDULE_DELAY="200",
        )
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        with (
            app.browser() as client,
            client.stream("POST", "/chat", data={"message": "こんにちは"}, headers=headers) as r,
        ):
            assert [e.name for e in events(r.iter_text())][-1] == "done"
        spans = sink.wait_for(lambda found: any(s.name.startswith("chat ") for s in found))

    by_name = {s.name: s for s in spans if s.trace_id.hex() == TRACE_ID}
    request, llm = by_name["POST /chat"], by_name[f"chat {TEST_MODEL}"]
    assert request.parent_span_id.hex() == PARENT_ID
    assert llm.parent_span_id == request.span_id
    (http,) = [s for s in spans if s.parent_span_id == llm.span_id]
    assert http.name == "POST"
    assert request.end_time_unix_nano >= llm.end_time_unix_nano  # the request covers its answer
    (line,) = app.access_lines_for("/chat")
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == request.span_id.hex()
