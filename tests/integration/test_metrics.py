"""Prometheus metrics as production serves them: gunicorn with two workers in front of the real
Ollama, scraped by a real Prometheus server, whose HTTP API must then tell what the answers said."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer
from tests.support.prometheus_server import PrometheusServer
from tests.support.sse import events

pytestmark = pytest.mark.integration

AppFactory = Callable[..., LiveApp]
QUESTIONS = ["こんにちは", "日本の首都はどこですか。", "Tell me about Mount Fuji."]
COUNTING = "1から1000まで、数字を一行ずつ書いてください。"


@pytest.fixture
def scrape(tmp_path: Path) -> Iterator[Callable[[LiveApp], PrometheusServer]]:
    """A Prometheus server scraping an app's metrics port every second; stopped after the test."""
    started: list[PrometheusServer] = []

    def start(app: LiveApp) -> PrometheusServer:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        started.append(PrometheusServer(workdir, [f"127.0.0.1:{app.metrics_port}"]))
        started[-1].start()
        return started[-1]

    yield start
    for server in started:
        server.stop()


def two_workers(
    ollama_server: OllamaServer, app_factory: AppFactory, tmp: Path, **env: str
) -> LiveApp:
    """The app with two workers (one secret key, so either takes any page's post); TMPDIR shows
    where the run's value files go."""
    tmp.mkdir()
    return app_factory(
        ollama_server.host, WEB_CONCURRENCY="2", CODA_SECRET_KEY="shared", TMPDIR=str(tmp), **env
    )


def ask(app: LiveApp, question: str) -> None:
    """One turn, read to its `done` event."""
    with app.browser() as client, client.stream("POST", "/chat", data={"message": question}) as r:
        assert r.status_code == 200
        names = [event.name for event in events(r.iter_text())]
    assert names[-1] == "done", names


def writers(tmp: Path) -> set[int]:
    """The processes whose counters are in the run's directory (`counter_<pid>.db`)."""
    (directory,) = tmp.glob("coda-metrics-*")
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("counter_*.db")}


def test_prometheus_scrapes_what_every_worker_reported(
    ollama_server: OllamaServer,
    app_factory: AppFactory,
    scrape: Callable[[LiveApp], PrometheusServer],
    tmp_path: Path,
) -> None:
    """Answers served by the workers, one of which then stops (gunicorn starts another), and more
    answers: the sums Prometheus reads are what the access log says, the stopped worker's
    included."""
    tmp = tmp_path / "app-tmp"
    app = two_workers(ollama_server, app_factory, tmp)
    prometheus = scrape(app)
    for question in QUESTIONS[:2]:
        ask(app, question)
    first = min(writers(tmp))
    os.kill(first, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while first in app.worker_pids() or len(app.worker_pids()) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the stopped worker"
        time.sleep(0.2)
    for question in QUESTIONS:
        ask(app, question)
    with app.browser() as client:
        refused = client.post("/chat", data={"message": "   "})
    assert refused.status_code == 422

    # Five answers and the refusal; the last line is written a moment after its client read it.
    chats = app.access_lines_for("/chat", count=6)
    done = [line for line in chats if line.get("outcome") == "done"]
    assert len(done) == 5
    assert first not in app.worker_pids()
    assert len(writers(tmp)) >= 2
    prompt_tokens = sum(line["prompt_tokens"] for line in done)
    completion_tokens = sum(line["completion_tokens"] for line in done)
    assert prompt_tokens > 0
    assert completion_tokens > 0

    def settled(value: float | None) -> bool:
        return value is not None and value >= len(done)

    assert prometheus.target_health() == ["up"]
    count = prometheus.wait_for("sum(coda_answer_first_token_seconds_count)", settled)
    assert count == len(done)
    # The refusal came last, so a scrape that holds every answer may still predate it.
    (refused_kind,) = [line["error_kind"] for line in chats if line.get("outcome") == "error"]
    refusals = f'sum(coda_answers_total{{error_kind="{refused_kind}"}})'
    assert prometheus.wait_for(refusals, lambda value: value is not None) == 1
    assert prometheus.query("sum(coda_prompt_tokens_total)") == prompt_tokens
    assert prometheus.query("sum(coda_completion_tokens_total)") == completion_tokens
    assert prometheus.query('sum(coda_answers_total{outcome="done"})') == len(done)
    assert prometheus.query('sum(coda_http_requests_total{route="/chat", status="200"})') == len(
        done
    )
    assert prometheus.query("sum(coda_answer_tokens_per_second_count)") == len(done)
    assert prometheus.query("sum(coda_model_load_seconds_count)") == len(done)
    # Nothing streams now, and the stopped worker's gauge no longer counts.
    assert prometheus.query("sum(coda_answers_streaming)") == 0
    # The buckets are LLM-sized: the 2-minute bucket holds every first token of the test model.
    in_two_minutes = 'sum(coda_answer_first_token_seconds_bucket{le="120.0"})'
    assert prometheus.query(in_two_minutes) == len(done)


def test_a_killed_worker_no_longer_counts_as_streaming(
    ollama_server: OllamaServer,
    app_factory: AppFactory,
    scrape: Callable[[LiveApp], PrometheusServer],
    tmp_path: Path,
) -> None:
    """A worker killed mid-answer cannot count its answer down: the master's exit hook drops its
    live gauge, while what it counted before (the page load) stays counted."""
    app = two_workers(
        ollama_server,
        app_factory,
        tmp_path / "app-tmp",
        CODA_MAX_TOKENS="2000",
        CODA_TEMPERATURE="0.8",
    )
    prometheus = scrape(app)
    pages = 'sum(coda_http_requests_total{route="/"})'
    with app.browser() as client, client.stream("POST", "/chat", data={"message": COUNTING}) as r:
        streamed = events(r.iter_text())
        next(e for e in streamed if e.name is None and "beforeend" in e.data)
        assert prometheus.wait_for("sum(coda_answers_streaming)", lambda v: v == 1) == 1
        assert prometheus.wait_for(pages, lambda v: v == 1) == 1
        victims = app.worker_pids()
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while set(app.worker_pids()) & set(victims) or len(app.worker_pids()) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace the killed workers"
            time.sleep(0.2)

    assert prometheus.wait_for("sum(coda_answers_streaming)", lambda v: v == 0) == 0
    assert prometheus.query(pages) == 1


def test_metrics_are_served_on_their_own_port_and_refused_on_the_public_one(
    ollama_server: OllamaServer, app_factory: AppFactory
) -> None:
    app = app_factory(ollama_server.host)
    ask(app, QUESTIONS[0])

    metrics = httpx.get(app.metrics_url, timeout=5)
    public = httpx.get(f"{app.url}/metrics", timeout=5)

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'coda_answers_total{error_kind="",outcome="done"} 1.0' in metrics.text
    assert public.status_code == 404
    assert "coda_" not in public.text


def test_metrics_off_leave_no_port_no_directory_and_no_route(
    ollama_server: OllamaServer, app_factory: AppFactory, tmp_path: Path
) -> None:
    app = app_factory(ollama_server.host, CODA_METRICS="false", TMPDIR=str(tmp_path))
    ask(app, QUESTIONS[0])

    with pytest.raises(httpx.ConnectError):
        httpx.get(app.metrics_url, timeout=5)
    assert httpx.get(f"{app.url}/metrics", timeout=5).status_code == 404
    assert list(tmp_path.glob("coda-metrics-*")) == []
    for pid in [app.process.pid, *app.worker_pids()]:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not any(item.startswith(b"PROMETHEUS_MULTIPROC_DIR=") for item in environ)
    assert "metrics on port" not in app.log()
