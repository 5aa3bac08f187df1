"""coda under gunicorn with the repo's gunicorn.conf.py, as production runs it: for the browser
tests and the benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.html import csrf_token
from tests.support.ollama_server import ROOT, TEST_MODEL, free_port, stop_process


@dataclass
class LiveApp:
    """coda under gunicorn, as production runs it."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    # The gunicorn master's metrics port (CODA_METRICS_PORT), free like the app's own.
    metrics_port: int = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children, from /proc."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        stop_process(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_lines(self) -> list[dict[str, Any]]:
        """The app's JSON access log lines (`coda.access`), in the order they were written."""
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{") and '"coda.access"' in line:
                lines.append(json.loads(line))
        return lines

    def access_lines_for(
        self, route: str, count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The access lines of `route` once there are `count` of them: a line is written when the
        server closes the body, a moment after the client has read it."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.access_lines() if line["route"] == route]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)

    @contextmanager
    def browser(self, timeout: float = 120) -> Iterator[httpx.Client]:
        """A client that loaded the page, as a browser tab has: its cookie and CSRF token."""
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=5)) as client:
            page = client.get("/")
            page.raise_for_status()
            client.headers.update({"X-CSRFToken": csrf_token(page.text), "HX-Request": "true"})
            yield client


def gunicorn_command() -> list[str]:
    """gunicorn from this interpreter's environment with the repo's config, as production runs."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [str(gunicorn), "--config", "gunicorn.conf.py", "coda:create_app()"]


def start_app(ollama_host: str, log_path: Path, **env: str) -> LiveApp:
    """Start gunicorn with the repo's gunicorn.conf.py on a free port; wait for /healthz.

    The metrics go to a free port of their own too, so apps started side by side never collide.
    """
    port, metrics_port = free_port(), free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "CODA_METRICS_PORT": str(metrics_port),
        "OLLAMA_HOST": ollama_host,
        "CODA_MODEL": TEST_MODEL,
        "CODA_TEMPERATURE": "0",
        "CODA_SEED": "42",
        "CODA_MAX_TOKENS": "48",
        "CODA_LOG_FORMAT": "json",
        **env,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            gunicorn_command(),
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=log,
        )
    metrics_port = int(environment["CODA_METRICS_PORT"])  # the caller's, when it chose one
    app = LiveApp(f"http://127.0.0.1:{port}", log_path, process, metrics_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{app.log()}")
        try:
            if httpx.get(f"{app.url}/healthz", timeout=1).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    app.stop()
    raise RuntimeError(f"gunicorn did not answer within 30s:\n{app.log()}")
