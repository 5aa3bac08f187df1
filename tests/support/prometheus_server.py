"""A real Prometheus server for tests: own port, own storage, scraping what the test names.

The binary is Debian's package, from scripts/install-prometheus.sh; the test asks it what it
scraped through its HTTP API, as a dashboard would.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.ollama_server import ROOT, free_port, stop_process

SCRAPE_INTERVAL = "1s"


def prometheus_binary() -> Path:
    """$CODA_PROMETHEUS_BIN when the Makefile already resolved it, else the install script's."""
    given = os.environ.get("CODA_PROMETHEUS_BIN")
    if given:
        return Path(given)
    out = subprocess.run(
        [str(ROOT / "scripts" / "install-prometheus.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        pytest.fail(f"no Prometheus server: scripts/install-prometheus.sh said\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class PrometheusServer:
    """`prometheus` scraping `targets` every second, on a free loopback port."""

    workdir: Path
    targets: list[str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 30) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
            "scrape_configs": [
                {"job_name": "coda", "static_configs": [{"targets": self.targets}]},
            ],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        command = [
            str(prometheus_binary()),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready within {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def query(self, promql: str) -> float | None:
        """The instant query's one value, or None when it has no series (yet)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        if not result:
            return None
        assert len(result) == 1, f"{promql} has {len(result)} series: {result}"
        return float(result[0]["value"][1])

    def wait_for(
        self, promql: str, done: Callable[[float | None], bool], timeout: float = 60
    ) -> float | None:
        """Ask again each second until `done(value)`; the last value either way."""
        deadline = time.monotonic() + timeout
        value = self.query(promql)
        while not done(value) and time.monotonic() < deadline:
            time.sleep(1)
            value = self.query(promql)
        return value

    def target_health(self) -> list[str]:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        response.raise_for_status()
        return [t["health"] for t in response.json()["data"]["activeTargets"]]
