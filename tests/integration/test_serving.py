"""coda served as production serves it (gunicorn.conf.py, the gevent worker) in front of the real
Ollama: hung-up requests are cancelled upstream at once, half-sent requests take no capacity, and a
shutdown ends every open answer with a message."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.html import text_partials
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer
from tests.support.sse import Event, events

pytestmark = pytest.mark.integration

AppFactory = Callable[..., LiveApp]
LONG = {"CODA_MAX_TOKENS": "2000", "CODA_TEMPERATURE": "0.8"}
COUNTING = "1から1000まで、数字を一行ずつ書いてください。"


def is_text(event: Event) -> bool:
    return event.name is None and bool(text_partials(event.data))


def test_answers_nobody_waits_for_are_cancelled_at_the_model_server_at_once(
    ollama_server: OllamaServer, app_factory: AppFactory
) -> None:
    """Two questions queue behind a long answer in Ollama's only slot, and their clients hang up.

    The app writes nothing for a minute while the model is silent (no notice, no heartbeat), so
    only noticing the closed connection itself ends them: their access-log lines, written once
    the upstream request is closed, appear while the long answer still streams. Then the long
    answer's client goes too, and the next question is answered at once, not after 2000 tokens.
    """
    app = app_factory(
        ollama_server.host,
        CODA_LOADING_NOTICE_SECONDS="60",
        CODA_HEARTBEAT_SECONDS="60",
        **LONG,
    )

    def stopped() -> int:
        return sum(1 for line in app.access_lines() if line.get("outcome") == "stopped")

    with app.browser() as busy, app.browser() as orphan, app.browser(timeout=60) as last:
        with busy.stream("POST", "/chat", data={"message": COUNTING}) as holding:
            held = events(holding.iter_text())
            next(e for e in held if is_text(e))
            for _ in range(2):
                with orphan.stream("POST", "/chat", data={"message": COUNTING}) as queued:
                    next(events(queued.iter_text()))  # the bubbles: coda has taken it
            deadline = time.monotonic() + 3
            while stopped() < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            cancelled_while_busy = stopped()
            assert is_text(next(held)), "the long answer should still be streaming"
        started = time.monotonic()
        with last.stream("POST", "/chat", data={"message": "こんにちは"}) as response:
            next(e for e in events(response.iter_text()) if is_text(e))
            waited = time.monotonic() - started

    assert cancelled_while_busy == 2
    assert waited < 30, f"the next answer waited {waited:.0f} s: a hung-up one kept the slot"


def test_half_sent_requests_take_no_serving_capacity(
    ollama_server: OllamaServer, app_factory: AppFactory
) -> None:
    """A slowloris: 200 connections that send half a header and wait."""
    app = app_factory(ollama_server.host)
    address = urlsplit(app.url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    stalled = []
    for _ in range(200):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: coda\r\nX-Slow: ")
        stalled.append(sock)
    try:
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            assert httpx.get(f"{app.url}/healthz", timeout=5).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.1)
        # gunicorn gives a request `keepalive` seconds (2) to arrive; then the connection goes.
        time.sleep(3)
        closed = 0
        for sock in stalled:
            try:
                closed += sock.recv(1) == b""
            except OSError:
                closed += 1
    finally:
        for sock in stalled:
            sock.close()

    assert max(latencies) < 1.0, latencies
    assert closed == len(stalled)


def test_shutdown_ends_every_open_answer_with_a_message_and_a_log_line(
    ollama_server: OllamaServer, app_factory: AppFactory
) -> None:
    """SIGTERM, as Cloud Run sends it 10 s before the kill: each answer says the server restarts,
    keeps its partial text, is logged, and the process is gone with seconds to spare."""
    app = app_factory(ollama_server.host, **LONG)
    endings: list[list[Event]] = [[], []]
    streaming = threading.Event()

    def chat(index: int) -> None:
        with (
            app.browser() as client,
            client.stream("POST", "/chat", data={"message": COUNTING}) as response,
        ):
            for event in events(response.iter_text()):
                endings[index].append(event)
                if is_text(event):
                    streaming.set()

    readers = [threading.Thread(target=chat, args=(i,), daemon=True) for i in range(2)]
    readers[0].start()
    assert streaming.wait(90), "the first answer never started"
    readers[1].start()  # queued behind it: Ollama has one slot
    time.sleep(1)

    signalled = time.monotonic()
    app.process.send_signal(signal.SIGTERM)
    app.process.wait(timeout=15)
    gone = time.monotonic() - signalled
    print(f"gunicorn gone {gone:.1f} s after SIGTERM")
    for reader in readers:
        reader.join(timeout=5)

    assert gone < 7, f"gunicorn took {gone:.1f} s to exit after SIGTERM (Cloud Run kills at 10)"
    for received in endings:
        assert received[-1].name == "error", received[-3:]
        assert "再起動" in json.loads(received[-1].data)["message"]
    assert json.loads(endings[0][-1].data)["content"].strip(), "the partial answer was lost"
    lines = [line for line in app.access_lines() if line["route"] == "/chat"]
    assert [(line["outcome"], line.get("error_kind")) for line in lines] == [
        ("error", "restarting"),
        ("error", "restarting"),
    ]
