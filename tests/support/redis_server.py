"""A real `redis-server` for tests: Debian's binary (scripts/install-redis.sh), a free loopback
port, nothing written to disk, started and stopped by the test fixtures as `ollama serve` is."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.ollama_server import free_port, stop_process

REDIS_SERVER = Path("/usr/bin/redis-server")


def redis_binary() -> Path:
    """$CODA_REDIS_BIN, else Debian's; a missing one fails the test, naming the installer."""
    given = os.environ.get("CODA_REDIS_BIN") or shutil.which("redis-server") or str(REDIS_SERVER)
    path = Path(given)
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run scripts/install-redis.sh (make redis)")
    return path


@dataclass
class RedisServer:
    binary: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        command = [
            str(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: see {self.log_path}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError(f"redis-server did not answer within {timeout}s: see {self.log_path}")

    def flush(self) -> None:
        """Forget every count: each test starts from nothing."""
        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None
