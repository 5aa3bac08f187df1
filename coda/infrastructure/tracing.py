"""OpenTelemetry traces: one per chat turn, the request's span with the answer's LLM span beneath.

Off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): then nothing here is even imported. On:
- OpenTelemetry's WSGI middleware makes the request span (`_traced_wsgi` says why not Flask's
  instrumentation, which is built on it), continuing the trace the caller sent: Cloud Run's
  `X-Cloud-Trace-Context`, else W3C `traceparent` (the order the access log's request id takes
  them in). Every turn is recorded, also when the caller did not sample its trace: Cloud
  Run samples a few requests only, and a turn missing from the traces is a turn nobody can read.
- `TracedChatModel` makes the LLM span (GenAI semantic conventions), and httpx's instrumentation
  the call to the model server beneath it.
- The request span carries the access log's `request_id`, and the log line the span's
  `trace_id` and `span_id`: either finds the other.

Spans leave in batches, from a thread that gevent makes a greenlet in the worker, over OTLP/HTTP
(Jaeger, Langfuse, an OpenTelemetry Collector in front of Cloud Trace all take it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, g, request
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.propagators.cloud_trace_propagator import CloudTraceFormatPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from coda.config import Settings
from coda.frontend.visitors import log_fields
from coda.infrastructure.traced_model import TracedChatModel, TraceTarget
from coda.llm import ChatModel

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

TRACING_KEY = "coda.tracing"
# Probes and static files would bury the turns under spans nobody reads.
UNTRACED_PATHS = ("/healthz", "/readyz", "/static/")


@dataclass(frozen=True)
class Tracing:
    """This app's spans: where they are made, and what the LLM spans say about the server."""

    provider: TracerProvider
    target: TraceTarget

    def traced(self, model: ChatModel) -> ChatModel:
        """`model` with every answer an LLM span."""
        return TracedChatModel(model, self.provider.get_tracer("coda"), self.target)


def build_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    """Spans exported in batches to the configured endpoint, or to `exporter` (tests)."""
    if exporter is None:
        exporter = OTLPSpanExporter(
            endpoint=settings.otlp_traces_endpoint, headers=dict(settings.otlp_headers) or None
        )
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.service_name}),
        sampler=ParentBased(root=ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    target = TraceTarget(settings.provider, settings.server_url, settings.trace_content)
    return Tracing(provider, target)


def install(app: Flask, tracing: Tracing) -> None:
    """Trace `app`'s requests and the calls to the model server; after `middleware.install`."""
    app.extensions[TRACING_KEY] = tracing
    # Extraction tries each in turn and keeps the last found: Cloud Run's own header wins.
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), CloudTraceFormatPropagator()])
    )
    app.wsgi_app = _traced_wsgi(app.wsgi_app, tracing.provider)  # type: ignore[method-assign, assignment]
    # httpx is instrumented for the whole process, which holds one app in production; an app
    # built later (tests) takes it over.
    httpx_instrumentor = HTTPXClientInstrumentor()
    if httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.uninstrument()
    httpx_instrumentor.instrument(tracer_provider=tracing.provider)

    @app.before_request
    def name_and_join() -> None:
        """Name the request span by its route, and join it and the log line both ways."""
        span = trace.get_current_span()
        context = span.get_span_context()
        if not context.is_valid:
            return
        if request.url_rule is not None:
            span.update_name(f"{request.method} {request.url_rule.rule}")
            span.set_attribute("http.route", request.url_rule.rule)
        span.set_attribute("coda.request_id", g.get("request_id", ""))
        log_fields(request.environ).update(
            trace_id=trace.format_trace_id(context.trace_id),
            span_id=trace.format_span_id(context.span_id),
        )


def _traced_wsgi(inner: WSGIApplication, provider: TracerProvider) -> WSGIApplication:
    """OpenTelemetry's WSGI middleware, which ends the request span when the body has been sent
    and keeps it current while the body streams (Flask's instrumentation ends it when the view
    returns: a streamed answer would outlive its own request span, and start a trace of its own).
    Probes and static files go around it."""

    def closed_once(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return _CloseOnce(inner(environ, start_response))

    traced = OpenTelemetryMiddleware(closed_once, tracer_provider=provider)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(UNTRACED_PATHS):
            return inner(environ, start_response)
        return traced(environ, start_response)  # type: ignore[no-any-return]

    return app


class _CloseOnce:
    """The body, closed once however often it is asked to be.

    The middleware reads the body with `yield from`, which closes it when the server stops
    reading early (a hang-up), and then closes it again itself: the access log line and the
    metrics, written when the body closes, would count a stopped answer twice.
    """

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body
        self._chunks = iter(body)
        self._closed = False

    def __iter__(self) -> _CloseOnce:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
