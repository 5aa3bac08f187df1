"""What each request and answer adds to the metrics, read from the app's own registry.

Over the stub model: these are about what the web tier counts. That a real Prometheus scrapes the
sums from every gunicorn worker is tests/integration/test_metrics.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask

from coda.infrastructure.app import create_app
from coda.infrastructure.metrics import METRICS_KEY, Metrics
from coda.llm import BusyError, TokenSource
from tests.support.client import post_turn
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import USAGE, StubModel


def app_over(stub: StubModel, **overrides: Any) -> Flask:
    app = create_app(replace(WEB_SETTINGS, **overrides), chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def metrics_of(app: Flask) -> Metrics:
    metrics: Metrics = app.extensions[METRICS_KEY]
    return metrics


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_a_done_answer_counts_its_tokens_speed_first_token_and_request() -> None:
    app = app_over(StubModel())
    metrics = metrics_of(app)

    post_turn(app.test_client(), "hi")

    assert value(metrics, "coda_answers_total", outcome="done", error_kind="") == 1
    assert value(metrics, "coda_prompt_tokens_total", model="stub:1") == USAGE.prompt_tokens
    assert value(metrics, "coda_completion_tokens_total", model="stub:1") == 3
    assert value(metrics, "coda_answer_first_token_seconds_count", model="stub:1") == 1
    assert value(metrics, "coda_answer_tokens_per_second_sum", model="stub:1") == 42.5
    assert value(metrics, "coda_model_load_seconds_count", model="stub:1") == 1
    assert value(metrics, "coda_answer_duration_seconds_count", outcome="done") == 1
    assert value(metrics, "coda_model_retries_total", model="stub:1") == 0
    assert value(metrics, "coda_answers_streaming") == 0
    chat = {"method": "POST", "route": "/chat", "status": "200"}
    assert value(metrics, "coda_http_requests_total", **chat) == 1


def test_an_answer_whose_server_sent_no_counts_is_counted_as_estimated() -> None:
    app = app_over(StubModel(usage=replace(USAGE, token_source=TokenSource.ESTIMATED)))
    metrics = metrics_of(app)

    post_turn(app.test_client(), "hi")
    post_turn(app_over(StubModel()).test_client(), "hi")

    assert value(metrics, "coda_answers_with_estimated_tokens_total", model="stub:1") == 1
    assert value(metrics, "coda_completion_tokens_total", model="stub:1") == 3


def test_a_failed_answer_counts_its_kind_and_its_retries() -> None:
    app = app_over(StubModel(texts=[], error=BusyError("503", attempts=3)))
    metrics = metrics_of(app)

    post_turn(app.test_client(), "hi")

    assert value(metrics, "coda_answers_total", outcome="error", error_kind="busy") == 1
    assert value(metrics, "coda_model_retries_total", model="stub:1") == 2
    assert value(metrics, "coda_answer_first_token_seconds_count", model="stub:1") == 0
    assert value(metrics, "coda_answer_duration_seconds_count", outcome="error") == 1


def test_an_answer_counts_as_streaming_until_its_response_closes() -> None:
    app = app_over(StubModel(texts=["a"] * 50, delay=0.05))
    metrics = metrics_of(app)
    client = app.test_client()

    response = client.post("/chat", data={"message": "hi", "history": "[]"}, buffered=False)
    next(iter(response.response))
    streaming = value(metrics, "coda_answers_streaming")
    response.close()

    assert streaming == 1
    assert value(metrics, "coda_answers_streaming") == 0
    assert value(metrics, "coda_answers_total", outcome="stopped", error_kind="") == 1


def test_refused_input_counts_as_an_answer_by_its_kind_and_never_as_streaming() -> None:
    app = app_over(StubModel())
    metrics = metrics_of(app)

    with app.test_client().post("/chat", data={"message": "x" * 500, "history": "[]"}) as response:
        assert response.status_code == 422

    assert value(metrics, "coda_answers_total", outcome="error", error_kind="invalid_request") == 1
    assert value(metrics, "coda_answers_streaming") == 0
    assert value(metrics, "coda_answer_duration_seconds_count", outcome="error") == 0


def test_paths_no_route_matches_share_one_label() -> None:
    app = app_over(StubModel())
    metrics = metrics_of(app)
    client = app.test_client()

    for path in ("/metrics", "/wp-admin", "/a/b/c"):
        with client.get(path) as response:  # counted when the body closes, as under gunicorn
            assert response.status_code == 404

    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(metrics, "coda_http_requests_total", **unmatched) == 3


def test_metrics_off_record_nothing_and_add_no_route() -> None:
    app = app_over(StubModel(), metrics=False)

    post_turn(app.test_client(), "hi")

    assert METRICS_KEY not in app.extensions
    assert app.test_client().get("/metrics").status_code == 404
    assert not any("metrics" in rule.rule for rule in app.url_map.iter_rules())
