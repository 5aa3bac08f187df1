"""coda under gunicorn with the repo's gunicorn.conf.py, as production runs it: for the browser
tests and the benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.ollama_server import ROOT, TEST_MODEL, free_port, stop_process


@dataclass
class LiveApp:
    """coda under gunicorn, as production runs it."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_app(ollama_host: str, log_path: Path, **env: str) -> LiveApp:
    """Start gunicorn with the repo's gunicorn.conf.py on a free port; wait for /healthz."""
    port = free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "OLLAMA_HOST": ollama_host,
        "CODA_MODEL": TEST_MODEL,
        "CODA_TEMPERATURE": "0",
        "CODA_SEED": "42",
        "CODA_MAX_TOKENS": "48",
        "CODA_LOG_FORMAT": "json",
        **env,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(gunicorn), "--config", "gunicorn.conf.py", "coda:create_app()"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=log,
        )
    app = LiveApp(f"http://127.0.0.1:{port}", log_path, process)
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
