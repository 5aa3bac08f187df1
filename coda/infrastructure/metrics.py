"""Prometheus metrics of every request and every answer, read from what the access log reads.

Each worker records into its own registry; under gunicorn the values go to files in the run's
`PROMETHEUS_MULTIPROC_DIR`, which the master adds up and serves on `CODA_METRICS_PORT`
(`coda.infrastructure.metrics_endpoint`). The public app has no metrics route.

What an answer was (done, stopped, which error, tokens, speed) is the turn's `TurnRecord`, the same
record the access log line is written from, read when the response closes: the chat views know
nothing of metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from coda.frontend import TURN_RECORD_KEY
from coda.frontend.streaming.turn import TurnRecord
from coda.llm import TokenSource

METRICS_KEY = "coda.metrics"
_STARTED_KEY = "coda.metrics.started"
UNMATCHED_ROUTE = "unmatched"  # any path no route matched: one label, however many paths

# Seconds to minutes: a warm model answers its first token in a fraction of a second, a cold one
# loads for tens of seconds, and a long answer on CPU streams for minutes.
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
ANSWER_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0)
SPEED_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Metrics:
    """One app's metrics, in its own registry (which the tests read)."""

    registry: CollectorRegistry
    requests: Counter
    answers: Counter
    first_token: Histogram
    answer_duration: Histogram
    prompt_tokens: Counter
    completion_tokens: Counter
    tokens_per_second: Histogram
    streaming: Gauge
    retries: Counter
    model_load: Histogram
    loop_blocked: Counter
    estimated_tokens: Counter

    def answer_started(self) -> None:
        self.streaming.inc()

    def answer_ended(self, record: TurnRecord, seconds: float, *, streamed: bool) -> None:
        """Count one answer, refused input included; `streamed`: it was counted as streaming."""
        if streamed:
            self.streaming.dec()
        model = record.model or ""
        self.answers.labels(record.outcome, record.error_kind or "").inc()
        if not streamed:
            return
        self.answer_duration.labels(record.outcome).observe(seconds)
        if record.first_token_ms is not None:
            self.first_token.labels(model).observe(record.first_token_ms / 1000)
        if record.prompt_tokens is not None:
            self.prompt_tokens.labels(model).inc(record.prompt_tokens)
        if record.completion_tokens is not None:
            self.completion_tokens.labels(model).inc(record.completion_tokens)
        if record.tokens_per_second is not None:
            self.tokens_per_second.labels(model).observe(record.tokens_per_second)
        if record.load_seconds is not None:
            self.model_load.labels(model).observe(record.load_seconds)
        if record.token_source == TokenSource.ESTIMATED.value:
            self.estimated_tokens.labels(model).inc()
        if record.attempts is not None and record.attempts > 1:
            self.retries.labels(model).inc(record.attempts - 1)


def build_metrics(registry: CollectorRegistry) -> Metrics:
    """Every metric coda exports, registered in `registry`."""
    return Metrics(
        registry=registry,
        requests=Counter(
            "coda_http_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=registry,
        ),
        answers=Counter(
            "coda_answers",
            "Chat turns by outcome (done, stopped, error) and error kind.",
            ["outcome", "error_kind"],
            registry=registry,
        ),
        first_token=Histogram(
            "coda_answer_first_token_seconds",
            "From the start of the answer's stream to its first text (reasoning not counted).",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        ),
        answer_duration=Histogram(
            "coda_answer_duration_seconds",
            "Whole answers, from the request to the stream's end, by outcome.",
            ["outcome"],
            buckets=ANSWER_BUCKETS,
            registry=registry,
        ),
        prompt_tokens=Counter(
            "coda_prompt_tokens",
            "Prompt tokens by the model that answered: the server's count, or coda's estimate"
            " where it sent none (coda_answers_with_estimated_tokens counts those answers).",
            ["model"],
            registry=registry,
        ),
        completion_tokens=Counter(
            "coda_completion_tokens",
            "Completion tokens by the model that answered: the server's count, or coda's estimate"
            " where it sent none.",
            ["model"],
            registry=registry,
        ),
        tokens_per_second=Histogram(
            "coda_answer_tokens_per_second",
            "Generation speed of each finished answer (the server's figure, else coda's).",
            ["model"],
            buckets=SPEED_BUCKETS,
            registry=registry,
        ),
        streaming=Gauge(
            "coda_answers_streaming",
            "Answers streaming now.",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        retries=Counter(
            "coda_model_retries",
            "Requests to the model server sent again before the first token (busy, unreachable).",
            ["model"],
            registry=registry,
        ),
        model_load=Histogram(
            "coda_model_load_seconds",
            "Model load time the server reported with an answer (Ollama; near zero when loaded).",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=registry,
        ),
        loop_blocked=Counter(
            "coda_event_loop_blocked",
            "Times a request held the worker's event loop past CODA_BLOCKING_REPORT_MS.",
            registry=registry,
        ),
        estimated_tokens=Counter(
            "coda_answers_with_estimated_tokens",
            "Finished answers whose server sent no token counts, so coda estimated them.",
            ["model"],
            registry=registry,
        ),
    )


def install(app: Flask) -> Metrics:
    """Record every request of `app`; the values are read when each response closes."""
    metrics = build_metrics(CollectorRegistry())
    app.extensions[METRICS_KEY] = metrics

    @app.before_request
    def start() -> None:
        request.environ[_STARTED_KEY] = time.monotonic()

    @app.after_request
    def observe(response: Response) -> Response:
        environ = request.environ
        started = environ.get(_STARTED_KEY, time.monotonic())
        route = request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE
        labels = (request.method, route, str(response.status_code))
        record = environ.get(TURN_RECORD_KEY)
        streamed = isinstance(record, TurnRecord) and record.outcome == "started"
        if streamed:
            metrics.answer_started()

        def closed() -> None:
            metrics.requests.labels(*labels).inc()
            if isinstance(record, TurnRecord):
                metrics.answer_ended(record, time.monotonic() - started, streamed=streamed)

        response.call_on_close(closed)
        return response

    return metrics
