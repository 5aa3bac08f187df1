"""The knowledge index measured: its size, what opening it costs an instance, and a search.

    python -m benchmarks.knowledge_index [--sizes 1000,10000,100000] [--dimension 384]

Synthetic passages (400 characters) with random unit vectors, written by the indexer's own
functions into one SQLite file, then opened as a web instance opens it. For each size: the file's
size, the time to open it (the vectors read into one float32 matrix), the memory that adds to the
process (resident set, /proc/self/statm), and the time of one search for the top 5 (median and
99th percentile of 200): numpy's exact dot product over the matrix, beside a scan of the same
vectors in pure Python from SQLite (the no-library baseline; up to 10,000 only). Embedding the
question is the model server's time and is not counted here. Prints a plain table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from coda.knowledge import index
from coda.knowledge.chunks import Passage
from coda.knowledge.index import IndexInfo, KnowledgeIndex

PAGE = os.sysconf("SC_PAGE_SIZE")
TEXT = "社内規程の本文です。" * 40  # 400 characters
PYTHON_SCAN_LIMIT = 10_000


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def build(path: Path, count: int, dimension: int, rng: np.random.Generator) -> float:
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    connection = index.connect_for_writing(path)
    with connection:
        index.write_info(connection, IndexInfo(embedding_model="bench", dimension=dimension))
    per_file = 100
    for start in range(0, count, per_file):
        cut = [Passage(TEXT, ("章", "節"), None)] * min(per_file, count - start)
        index.replace_file(
            connection, f"doc{start}.md", "x", cut, vectors[start : start + len(cut)].tolist()
        )
    connection.close()
    return time.perf_counter() - started


def python_scan(path: Path, query: list[float]) -> float:
    """The baseline: every vector read from SQLite and scored in Python."""
    import sqlite3
    from array import array

    started = time.perf_counter()
    connection = sqlite3.connect(path)
    best = []
    for passage_id, blob in connection.execute("SELECT id, vector FROM passages"):
        vector = array("f")
        vector.frombytes(blob)
        best.append((sum(a * b for a, b in zip(query, vector, strict=True)), passage_id))
    best.sort(reverse=True)
    connection.close()
    return time.perf_counter() - started


def measure(count: int, dimension: int, folder: Path) -> dict[str, str]:
    rng = np.random.default_rng(count)
    path = folder / f"k{count}.sqlite"
    write_seconds = build(path, count, dimension, rng)
    before = resident_bytes()
    started = time.perf_counter()
    opened = KnowledgeIndex(path)
    open_seconds = time.perf_counter() - started
    added = resident_bytes() - before
    queries = rng.standard_normal((200, dimension)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    times = []
    for query in queries:
        started = time.perf_counter()
        opened.search(query.tolist(), top_k=5, min_score=-1)
        times.append(time.perf_counter() - started)
    opened.close()
    times.sort()
    scan = (
        f"{python_scan(path, queries[0].tolist()) * 1000:.0f}"
        if count <= PYTHON_SCAN_LIMIT
        else "-"
    )
    return {
        "passages": f"{count}",
        "write s": f"{write_seconds:.1f}",
        "file MiB": f"{path.stat().st_size / 2**20:.1f}",
        "open s": f"{open_seconds:.2f}",
        "memory MiB": f"{added / 2**20:.1f}",
        "search ms p50": f"{statistics.median(times) * 1000:.2f}",
        "search ms p99": f"{times[int(len(times) * 0.99) - 1] * 1000:.2f}",
        "python scan ms": scan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dimension", type=int, default=384)
    arguments = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(s) for s in arguments.sizes.split(",")):
            rows.append(measure(size, arguments.dimension, Path(folder)))
            print(f"measured {size}", file=sys.stderr, flush=True)
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(row[c] for c in columns))


if __name__ == "__main__":
    main()
