"""What does the web tier add to Ollama's latency? Measured side by side, in one run.

    python -m benchmarks.web_overhead [--rounds 20] [--num-predict 32] ...   (part of `make bench`)

A real `ollama serve` with the test model, and coda under gunicorn (the repo's gunicorn.conf.py) in
front of it, one answer at a time. Each round asks the same question twice, in alternating order
(ABAB, so drift cancels out): (A) directly, with the official `ollama` client, sending exactly the
messages and options coda sends; (B) through coda, `POST /chat` read as Server-Sent Events. Time to
first token (first answer text, not the opening bubbles) and time to the end (`done`). What the web
tier does under load is `benchmarks/serving_ladder.py`.

Prints a plain table. Exits non-zero on errors only, never because of a figure: the figures are
for people to read, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import ollama

from coda.config import Settings
from coda.infrastructure.bootstrap import generation_options, prompt_limits
from coda.llm import build_messages
from coda.llm.ollama import to_ollama_options  # the very options coda sends
from tests.support.live_app import LiveApp, start_app
from tests.support.ollama_server import (
    TEST_MODEL,
    TEST_MODELFILE,
    OllamaServer,
    ollama_binary,
    small_model_gguf,
)
from tests.support.sse import events

QUESTION = "日本の首都はどこですか?一文で答えてください。"
# An unnamed event carrying streamed answer text appends to the bubble's body; the opening event
# (the two bubbles), the loading notice and the final bubble use other swaps.
TEXT_EVENT = re.compile(
    r'<hx-partial hx-target="#turn-[0-9a-f]+-(?:body|source)" hx-swap="beforeend">'
)


@dataclass
class Sample:
    """One answer: seconds to the first text and to the end, the text, and SSE events read."""

    first: float
    total: float
    text: str
    events: int = 0


@dataclass
class Figures:
    direct: list[Sample] = field(default_factory=list)
    coda: list[Sample] = field(default_factory=list)


# --- the two ways of asking ------------------------------------------------------------------


def ask_direct(
    client: ollama.Client, model: str, messages: Sequence[Mapping[str, str]], options: Any
) -> Sample:
    """Stream `/api/chat` with the official client, as coda's adapter does."""
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    for part in client.chat(model=model, messages=messages, options=options, stream=True):
        text = part.message.content or ""
        if text and first is None:
            first = time.perf_counter() - start
        parts.append(text)
        if part.done:
            total = time.perf_counter() - start
            if first is None:
                raise RuntimeError("direct: the answer had no text")
            return Sample(first, total, "".join(parts))
    raise RuntimeError("direct: the stream ended without a done line")


class CodaClient:
    """A browser stand-in: loads the page once for the session cookie and CSRF token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=httpx.Timeout(120, connect=5))
        page = self.http.get("/")
        page.raise_for_status()
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
        if found is None:
            raise RuntimeError("coda: no csrf-token meta tag on GET /")
        self.token = found.group(1)

    def ask(self, message: str) -> Sample:
        """`POST /chat` and read the events up to `done`."""
        start = time.perf_counter()
        first: float | None = None
        count = 0
        form = {"message": message, "history": "[]"}
        headers = {"X-CSRFToken": self.token}
        with self.http.stream("POST", "/chat", data=form, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                raise RuntimeError(f"coda: POST /chat answered {response.status_code}")
            for item in events(response.iter_text()):
                if item.name == ":":
                    continue
                count += 1
                if item.name is None and first is None and TEXT_EVENT.search(item.data):
                    first = time.perf_counter() - start
                elif item.name == "done":
                    total = time.perf_counter() - start
                    if first is None:
                        raise RuntimeError("coda: the answer had no text event")
                    content = json.loads(item.data)["content"]
                    return Sample(first, total, str(content), count)
                elif item.name == "error":
                    raise RuntimeError(f"coda: error event {item.data}")
        raise RuntimeError("coda: the stream ended without a done event")

    def close(self) -> None:
        self.http.close()


# --- processes ---------------------------------------------------------------------------------


# --- statistics and printing -------------------------------------------------------------------


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def p90_ms(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0] * 1000
    return statistics.quantiles(values, n=10, method="inclusive")[8] * 1000


def comparison(
    figures: Figures, rows: Sequence[tuple[str, Callable[[Sequence[float]], float], str]]
) -> str:
    """Rows of `direct`, `via coda`, their ratio and difference, for each statistic."""
    lines = [f"  {'':<28}{'direct (A)':>12}{'via coda (B)':>14}{'B/A':>8}{'B-A ms':>10}"]
    for label, stat, attr in rows:
        a = stat([getattr(s, attr) for s in figures.direct])
        b = stat([getattr(s, attr) for s in figures.coda])
        lines.append(f"  {label:<28}{a:>12.1f}{b:>14.1f}{b / a:>8.3f}{b - a:>+10.1f}")
    return "\n".join(lines)


STAT_ROWS = (
    ("first token, median (ms)", median_ms, "first"),
    ("first token, p90 (ms)", p90_ms, "first"),
    ("done, median (ms)", median_ms, "total"),
    ("done, p90 (ms)", p90_ms, "total"),
)


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def say(text: str) -> None:
    """Progress on stderr, so stdout is the table alone."""
    print(text, file=sys.stderr, flush=True)


# --- 1. the real Ollama --------------------------------------------------------------------------


def real_ollama(args: argparse.Namespace, workdir: Path, coda_env: dict[str, str]) -> list[str]:
    server = OllamaServer(
        binary=ollama_binary(), models_dir=workdir / "models", log_path=workdir / "ollama.log"
    )
    say(f"starting ollama serve ({server.binary}) on {server.host}")
    server.start()
    app: LiveApp | None = None
    direct: ollama.Client | None = None
    coda: CodaClient | None = None
    try:
        say(f"creating {TEST_MODEL} from {TEST_MODELFILE.name}")
        server.create_model(small_model_gguf(), TEST_MODELFILE, TEST_MODEL)
        server_version = httpx.get(f"{server.host}/api/version").json()["version"]
        details = httpx.post(f"{server.host}/api/show", json={"model": TEST_MODEL}).json()
        details = details.get("details", {})

        settings = Settings.from_env({**os.environ, **coda_env, "OLLAMA_HOST": server.host})
        messages = [
            {"role": m.role.value, "content": m.content}
            for m in build_messages(
                settings.system_prompt, [], args.question, prompt_limits(settings)
            )
        ]
        options = to_ollama_options(generation_options(settings))

        app = start_app(server.host, workdir / "gunicorn-real.log", **coda_env)
        direct = ollama.Client(host=server.host, timeout=httpx.Timeout(120, connect=5))
        coda = CodaClient(app.url)

        say(f"warming up ({args.warmup} answers each way)")
        for _ in range(args.warmup):
            ask_direct(direct, TEST_MODEL, messages, options)
            coda.ask(args.question)

        figures = Figures()
        say(f"{args.rounds} rounds, alternating the order")
        for round_ in range(args.rounds):
            order = ("direct", "coda") if round_ % 2 == 0 else ("coda", "direct")
            for way in order:
                if way == "direct":
                    figures.direct.append(ask_direct(direct, TEST_MODEL, messages, options))
                else:
                    figures.coda.append(coda.ask(args.question))
        same = sum(a.text == b.text for a, b in zip(figures.direct, figures.coda, strict=True))
        paired = [
            (b.total - a.total) * 1000 for a, b in zip(figures.direct, figures.coda, strict=True)
        ]
        model = (
            f"{TEST_MODEL} ({details.get('family', '?')}, {details.get('parameter_size', '?')}, "
            f"{details.get('quantization_level', '?')}, {small_model_gguf().name})"
        )
        return [
            f"ollama:     {server_version} (server, {server.binary})",
            f"model:      {model}",
            "",
            f"Real Ollama, one answer at a time: {args.rounds} rounds, order alternated each round "
            f"(+{args.warmup} warm-up answers each way, not counted)",
            f"   options: {json.dumps(options, sort_keys=True)}",
            f"   question: {args.question}",
            comparison(figures, STAT_ROWS),
            f"  {'done, paired B-A per round (ms)':<28} median {statistics.median(paired):+.1f}, "
            f"min {min(paired):+.1f}, max {max(paired):+.1f}",
            f"  same answer text both ways: {same}/{args.rounds} rounds "
            f"({len(figures.coda[0].text)} characters, {figures.coda[0].events} SSE events)",
        ]
    finally:
        if coda is not None:
            coda.close()
        if direct is not None:
            direct.close()  # type: ignore[no-untyped-call]
        if app is not None:
            app.stop()
        server.stop()


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20, help="real-Ollama rounds (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up answers each way (2)")
    parser.add_argument("--num-predict", type=int, default=32, help="answer length, tokens (32)")
    parser.add_argument("--question", default=QUESTION, help="the question asked every time")
    args = parser.parse_args(argv)
    for name in ("rounds", "num_predict"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup cannot be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = f"{sys.executable} -m benchmarks.web_overhead {shlex.join(sys.argv[1:])}".strip()
    # Exactly what tests/e2e runs, with a shorter answer; the direct side reads the same values.
    coda_env = {
        "CODA_MODEL": TEST_MODEL,
        "CODA_TEMPERATURE": "0",
        "CODA_SEED": "42",
        "CODA_MAX_TOKENS": str(args.num_predict),
    }
    started = time.perf_counter()
    lines = [
        "coda web-tier overhead benchmark",
        f"command:    {command}",
        f"date:       {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"machine:    nproc {os.cpu_count()}, {platform.machine()}, Linux {platform.release()}",
        f"python:     {platform.python_version()}; ollama-python {version('ollama')}, "
        f"httpx {version('httpx')}, gunicorn {version('gunicorn')}, flask {version('flask')}",
        "web tier:   gunicorn.conf.py (gevent worker)",
    ]
    with tempfile.TemporaryDirectory(prefix="coda-bench-") as tmp:
        workdir = Path(tmp)
        lines += real_ollama(args, workdir, coda_env)
    lines += ["", f"ran in {time.perf_counter() - started:.0f} s"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
