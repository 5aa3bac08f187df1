"""The worst CPU time one request costs the worker, per route, over the hostile corpus.

    python -m benchmarks.request_cpu [--languages 600]            (part of `make bench`)

coda under gunicorn (the repo's gunicorn.conf.py, the gevent worker) in front of the paced
wire-format stub of Ollama, and every request of `tests/support/adversarial.py` (the shapes that
stalled the worker in issue 17, and their kin on every route) plus ordinary ones, sent one at a
time. Each request's cost is the worker process's CPU time across it, read from
`/proc/<pid>/task/*/schedstat` (nanoseconds), so gunicorn's own parsing counts too. A turn that is
accepted is left once its answer begins; what its cancelling costs falls in its figure.

Under gevent a request holds every other request on its worker for as long as it computes without
yielding; coda yields between bounded steps, so a request's total can exceed the stall it causes,
never the other way round. Prints a plain table; figures for people to read, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

from tests.support.adversarial import Hostile, hostile_requests, hostile_uploads, lexer_names, saved
from tests.support.live_app import start_app
from tests.support.ollama_server import ROOT, free_port, stop_process


def cpu_ns(pid: int) -> int:
    """Nanoseconds process `pid` has run on a CPU, all its threads together."""
    return sum(
        int(path.read_text().split()[0]) for path in Path(f"/proc/{pid}/task").glob("*/schedstat")
    )


def ordinary_requests() -> list[Hostile]:
    """What a page sends every day, for comparison."""
    answer = "## 見出し\n\n- 一つ目\n- 二つ目\n\n```python\nprint('hello')\n```\n\n**太字**です。"
    return [
        Hostile("chat/ordinary", "/chat", {"message": "こんにちは", "history": "[]"}),
        Hostile("conversation/ordinary", "/conversation", {"history": saved(answer * 20)}),
    ]


def send(client: httpx.Client, request: Hostile) -> int:
    if request.upload is not None:
        files = {"file": (request.filename, request.upload, "application/octet-stream")}
        return client.post(request.path, files=files).status_code
    with client.stream("POST", request.path, data=request.form) as response:
        next(response.iter_bytes(), b"")
        return response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", type=int, default=0, help="lexers to try (0: all)")
    args = parser.parse_args()
    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.paced_ollama", "--port", str(port), "--rate", "40"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    log = Path(tempfile.mkdtemp(prefix="coda-request-cpu-")) / "gunicorn.log"
    app = start_app(f"http://127.0.0.1:{port}", log, CODA_BLOCKING_REPORT_MS="100")
    try:
        (worker,) = app.worker_pids()
        languages = lexer_names()[: args.languages or None]
        requests = ordinary_requests() + list(hostile_requests(languages)) + list(hostile_uploads())
        costs: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
        with app.browser(timeout=60) as client:
            for request in requests:
                before = cpu_ns(worker)
                status = send(client, request)
                time.sleep(0.05)  # the request's cleanup (a cancelled answer) is its own
                spent_ms = (cpu_ns(worker) - before) / 1e6
                costs[request.path].append((spent_ms, request.name, status))
        print(f"{'route':14} {'requests':>8} {'median ms':>10} {'worst ms':>9}  worst input")
        for path, items in sorted(costs.items()):
            worst = max(items)
            median = statistics.median(spent for spent, _, _ in items)
            print(
                f"{path:14} {len(items):8d} {median:10.1f} {worst[0]:9.1f}  {worst[1]} ({worst[2]})"
            )
        issue = [item for items in costs.values() for item in items]
        for name in ("chat/unterminated-escapes", "conversation/lexer-scala"):
            for spent, label, status in issue:
                if label == name:
                    print(f"issue 17 input {label}: {spent:.1f} ms of CPU, status {status}")
        reports = [line for line in app.log().splitlines() if "event loop blocked" in line]
        print(f"event loop blocked reports (over 100 ms): {len(reports)}")
    finally:
        app.stop()
        stop_process(stub)


if __name__ == "__main__":
    main()
