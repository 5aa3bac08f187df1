"""How many answers can one web instance stream? A ladder of concurrent chats, through coda and
direct, side by side in one run.

    python -m benchmarks.serving_ladder [--steps 16,100,250,500] [--compare gthread]   (make bench)

An Ollama look-alike (`benchmarks/paced_ollama.py`, the real wire format) streams every answer at
`--rate` tokens/s, `--tokens` long. For each step, N clients (`benchmarks/load.py`, one asyncio
process) first ask it directly, then through coda under gunicorn with the repo's gunicorn.conf.py,
each chat with its own page load, cookie and CSRF token, all N posted in the same instant. While
coda streams, a prober asks `/healthz`, `/readyz`, `/` and a static file every 100 ms on fresh
connections. Per step it prints: lost answers, first text and largest inter-token gap (p50/p99,
and what coda adds over direct), probe latency p99, peak RSS of the gunicorn process tree, and
worker CPU per SSE event and per token; once per server, process start to the first `/healthz` 200.
`--compare gthread` runs the steps up to 100 again on the previous serving model (1 worker x 16
threads), so the figures behind the choice come from the same run; `--compare no-telemetry,traces`
runs them without metrics, and with every turn traced, for what telemetry costs.

Figures for people to read, never a pass/fail: it exits non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.live_app import gunicorn_command
from tests.support.ollama_server import ROOT, free_port, stop_process
from tests.support.otlp_sink import otlp_sink

MODEL = "coda-bench:1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SERVING_MODELS = {
    # The shipped configuration (one gevent worker, for 1 vCPU); the one it replaced; and two
    # gevent workers, for an instance with 2 vCPUs.
    "gevent": {},
    "gthread": {"GUNICORN_CMD_ARGS": "--worker-class gthread --workers 1 --threads 16"},
    "gevent-2": {"WEB_CONCURRENCY": "2"},
    # Telemetry's cost: the shipped one records metrics; without them; and with every turn traced
    # too, exported over OTLP/HTTP to a receiver in this process (tests/support/otlp_sink.py).
    "no-telemetry": {"CODA_METRICS": "false"},
    "traces": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{otlp}"},
    # Answers streamed as raw text, formatted only at the end: what live formatting costs.
    "raw-text": {"CODA_LIVE_FORMAT_MS": "0"},
}


@dataclass
class Step:
    chats: int
    direct: dict[str, object] = field(default_factory=dict)
    coda: dict[str, object] = field(default_factory=dict)
    probes: dict[str, list[float]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    worker_cpu_seconds: float = 0.0
    wall_seconds: float = 0.0  # from the burst of posts to the last answer's end


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- processes -----------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return total * PAGE_SIZE / 2**20


@contextlib.contextmanager
def peak_rss(root: int, found: list[float]) -> Iterator[None]:
    """Samples the tree's RSS every 0.2 s while the block runs; the peak lands in `found`."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            found[0] = max(found[0], rss_mb(process_tree(root)))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def paced_upstream(tokens: int, rate: float, first: float) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.paced_ollama", "--port", str(port),
               "--tokens", str(tokens), "--rate", str(rate), "--first", str(first)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "paced ollama on ..." once it listens
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@contextlib.contextmanager
def coda_server(
    upstream: str, extra_env: dict[str, str], log: Path
) -> Iterator[tuple[str, int, float]]:
    """gunicorn as production runs it; yields its URL, master pid and seconds to the first 200."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "OLLAMA_HOST": upstream, "CODA_MODEL": MODEL,
           "CODA_METRICS_PORT": str(free_port()), "CODA_LOG_LEVEL": "WARNING",
           "CODA_SECRET_KEY": "bench", **extra_env}  # fmt: skip
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(gunicorn_command(), cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.01)
        yield url, process.pid, time.perf_counter() - started
    finally:
        stop_process(process)


def load(mode: str, url: str, chats: int, timeout: float) -> dict[str, object]:
    command = [sys.executable, "-m", "benchmarks.load", mode, "--url", url,
               "--chats", str(chats), "--model", MODEL, "--timeout", str(timeout)]  # fmt: skip
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def run_step(
    url: str, master: int, upstream: str, chats: int, seconds: float, timeout: float
) -> Step:
    step = Step(chats)
    say(f"  {chats} chats direct")
    step.direct = load("direct", upstream, chats, timeout)
    say(f"  {chats} chats through coda")
    probe = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.load", "probe", "--url", url, "--seconds", str(seconds)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    found = [0.0]
    workers = [pid for pid in process_tree(master) if pid != master]
    cpu_before = cpu_seconds(workers)
    with peak_rss(master, found):
        step.coda = load("coda", url, chats, timeout)
    step.worker_cpu_seconds = cpu_seconds(workers) - cpu_before
    step.wall_seconds = max(figures(step.coda, "end"), default=0.0)
    step.peak_rss_mb = found[0]
    out, _ = probe.communicate(timeout=seconds + 30)
    step.probes = json.loads(out)
    return step


# --- the table -----------------------------------------------------------------------------------


def answers(report: dict[str, object]) -> list[dict[str, object]]:
    found = report.get("answers", [])
    assert isinstance(found, list)
    return found


def figures(report: dict[str, object], key: str) -> list[float]:
    return [float(a[key]) for a in answers(report) if a.get("ok") and a.get(key) is not None]  # type: ignore[arg-type]


def step_rows(step: Step, tokens: int) -> list[str]:
    lost_direct = sum(1 for a in answers(step.direct) if not a.get("ok"))
    lost = sum(1 for a in answers(step.coda) if not a.get("ok"))
    errors = sorted({str(a.get("error"))[:60] for a in answers(step.coda) if not a.get("ok")})
    rows = []
    ms = 1000.0
    opened = figures(step.coda, "opened")
    rows.append(
        f"    opened       p50 {percentile(opened, 0.5) * ms:8.1f} ms"
        f"   p99 {percentile(opened, 0.99) * ms:8.1f} ms (coda's first event: the two bubbles)"
    )
    for label, key in (("first text", "first"), ("largest gap", "max_gap")):
        direct, coda = figures(step.direct, key), figures(step.coda, key)
        p50d, p99d = percentile(direct, 0.5) * ms, percentile(direct, 0.99) * ms
        p50c, p99c = percentile(coda, 0.5) * ms, percentile(coda, 0.99) * ms
        rows.append(
            f"    {label:<12} p50 {p50d:8.1f} -> {p50c:8.1f} ms (+{p50c - p50d:7.1f})"
            f"   p99 {p99d:8.1f} -> {p99c:8.1f} ms (+{p99c - p99d:7.1f})"
        )
    probes = "  ".join(
        f"{path} {percentile(values, 0.99) * ms:.1f}" for path, values in step.probes.items()
    )
    events = sum(int(a.get("events", 0)) for a in answers(step.coda))  # type: ignore[call-overload]
    delivered = sum(1 for a in answers(step.coda) if a.get("ok")) * tokens
    per_event = step.worker_cpu_seconds / events * ms if events else float("nan")
    per_token = step.worker_cpu_seconds / delivered * ms if delivered else float("nan")
    per_second = step.worker_cpu_seconds / step.wall_seconds if step.wall_seconds else float("nan")
    sent = figures(step.coda, "bytes")
    per_answer = sum(sent) / len(sent) / 1024 if sent else float("nan")
    rows += [
        f"    lost answers {lost} of {step.chats} (direct: {lost_direct})"
        + (f"  {errors}" if errors else ""),
        f"    probes p99 (ms): {probes}",
        f"    peak RSS {step.peak_rss_mb:.0f} MB; worker CPU {step.worker_cpu_seconds:.2f} s for "
        f"{events} SSE events = {per_event:.3f} ms/event, {per_token:.3f} ms/token",
        f"    worker CPU {per_second:.2f} s per second of streaming; {per_answer:.1f} KiB sent"
        " per answer",
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="16,100,250,500")
    parser.add_argument("--rate", type=float, default=10.0, help="tokens/s per answer")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per answer")
    parser.add_argument("--first", type=float, default=0.2, help="seconds to the first token")
    parser.add_argument(
        "--compare",
        default="",
        help=f"also run these serving models, comma-separated ({', '.join(SERVING_MODELS)})",
    )
    parser.add_argument(
        "--compare-up-to", type=int, default=100, help="largest step for the compared models"
    )
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    answer_seconds = args.first + args.tokens / args.rate
    models = ["gevent"] + [name for name in args.compare.split(",") if name]
    unknown = set(models) - set(SERVING_MODELS)
    if unknown:
        parser.error(f"unknown serving models: {', '.join(sorted(unknown))}")
    log = Path(tempfile.gettempdir()) / f"coda-ladder-{os.getpid()}.log"
    lines = [
        f"coda serving ladder, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"upstream: {args.tokens} tokens at {args.rate:g} tokens/s, first after {args.first:g} s "
        f"(paced Ollama wire format); gunicorn log: {log}",
    ]
    with paced_upstream(args.tokens, args.rate, args.first) as upstream, otlp_sink() as sink:
        for name in models:
            # Room for the largest step: what Cloud Run's containerConcurrency would be set to.
            configured = {k: v.format(otlp=sink.url) for k, v in SERVING_MODELS[name].items()}
            env = {"CODA_CONCURRENCY": str(max(steps)), **configured}
            with coda_server(upstream, env, log) as (url, master, start_seconds):
                lines.append(f"\n{name}: start to first /healthz 200: {start_seconds:.2f} s")
                for chats in steps:
                    if name != "gevent" and chats > args.compare_up_to:
                        continue
                    say(f"{name}: {chats} chats")
                    timeout = answer_seconds * 3 + 30
                    step = run_step(url, master, upstream, chats, answer_seconds + 5, timeout)
                    lines.append(f"  {chats} chats at once")
                    lines.extend(step_rows(step, args.tokens))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
