"""The Locust file that users point at their deployment, run for a few seconds against the app, so
it cannot rot: pages load, answers stream to the end, and its timings are recorded."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_app import LiveApp
from tests.support.ollama_server import ROOT

pytestmark = pytest.mark.integration


def test_locustfile_chats_against_the_app_and_reports_first_text_and_done(
    live_app: LiveApp, tmp_path: Path
) -> None:
    locust = Path(sys.executable).with_name("locust")
    command = [str(locust), "-f", "benchmarks/locustfile.py", "--headless", "--host", live_app.url,
               "--users", "2", "--spawn-rate", "2", "--run-time", "6s", "--stop-timeout", "90",
               "--csv", str(tmp_path / "run"), "--only-summary"]  # fmt: skip
    env = {**os.environ, "CODA_LOAD_PAUSE": "0.5,1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)

    assert done.returncode == 0, done.stderr[-3000:]
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    for name in ("GET /", "POST /chat", "first text", "answer done"):
        assert int(rows[name]["Request Count"]) >= 1, (name, rows.get(name))
        assert int(rows[name]["Failure Count"]) == 0, (name, rows[name])
    print(
        f"locust: {rows['answer done']['Request Count']} answers, first text median "
        f"{rows['first text']['Median Response Time']} ms, done median "
        f"{rows['answer done']['Median Response Time']} ms"
    )
