"""The vector stores benchmarks/knowledge_index.py compares, each built, saved, opened and searched
the same way; and the child process that opens one and searches it, so each store's memory is
measured in a process of its own (a freed matrix stays in the parent's allocator and would hide
the next store's).

    python -m benchmarks.vector_stores STORE_KEY FOLDER QUERIES.npy TOP_K   (run by knowledge_index)

The stores (the issue's list): coda's own index (SQLite file, numpy exact dot product), also
with OpenBLAS held to one thread; the SQLite file scanned in pure Python (no vector library);
faiss-cpu's exact `IndexFlatIP` and approximate `IndexHNSWFlat`; usearch's HNSW; LanceDB's table
searched without an index (a flat scan); sqlite-vec's `vec0` table (exact). The libraries are
benchmark-only (requirements-bench.lock); they are imported by name, so a missing one is
reported, never skipped in silence. Every vector is unit length and every store ranks by inner
product (the cosine). Approximate stores use their libraries' default parameters (faiss: M 32,
efConstruction 40, efSearch 16 raised to 64; usearch: connectivity 16, expansion 128/64).
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from coda.knowledge import index
from coda.knowledge.chunks import Passage
from coda.knowledge.index import IndexInfo, KnowledgeIndex

Matrix = npt.NDArray[np.float32]
# Finds the `k` nearest of a unit vector: their row numbers (0 to N-1), best first.
Search = Callable[[Matrix, int], Sequence[int]]
PAGE = os.sysconf("SC_PAGE_SIZE")
# Each passage's text starts with its row number, so a hit of coda's index names its row.
FILLER = "社内規程の本文です。" * 39  # with the number: 400 characters
PASSAGES_PER_FILE = 100


class Unavailable(Exception):
    """The store cannot run here; the message says why and what installs it."""


def library(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Unavailable(
            f"{name} is not installed: pip install -r requirements-bench.lock (make bench)"
        ) from exc


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


@dataclass(frozen=True)
class Store:
    """`build` writes the store's files for the vectors into a folder; `open` reads them back
    and answers searches. `largest`: the most vectors it is run with, `queries` the most
    questions it is asked (None: all), for the slow baseline."""

    key: str  # for the command line
    name: str
    library: str
    build: Callable[[Matrix, Path], None]
    open: Callable[[Path], Search]
    largest: int | None = None
    queries: int | None = None
    env: tuple[tuple[str, str], ...] = ()  # for the child process


# --- coda's index, and the same file scanned without a vector library ---------------------------


def coda_file(folder: Path) -> Path:
    return folder / "knowledge.sqlite"


def build_coda(vectors: Matrix, folder: Path) -> None:
    """Written by the indexer's own functions, 100 passages a file."""
    connection = index.connect_for_writing(coda_file(folder))
    with connection:
        index.write_info(connection, IndexInfo(embedding_model="bench", dimension=vectors.shape[1]))
    for start in range(0, len(vectors), PASSAGES_PER_FILE):
        rows = range(start, min(start + PASSAGES_PER_FILE, len(vectors)))
        passages = [Passage(f"{row:010d}" + FILLER, ("章", "節"), None) for row in rows]
        index.replace_file(
            connection, f"doc{start}.md", "x", passages, vectors[rows.start : rows.stop].tolist()
        )
    connection.close()


def open_coda(folder: Path) -> Search:
    """What a web instance does: `KnowledgeIndex`, and its `search` (the passages read too)."""
    opened = KnowledgeIndex(coda_file(folder))

    def search(query: Matrix, k: int) -> list[int]:
        hits = opened.search(query.tolist(), top_k=k, min_score=-1.0)
        return [int(hit.passage.text[:10]) for hit in hits]

    return search


def open_python_scan(folder: Path) -> Search:
    """No vector library: every vector read from the file and scored in Python, each search."""

    def search(query: Matrix, k: int) -> list[int]:
        values = query.tolist()
        connection = sqlite3.connect(coda_file(folder))
        scored = []
        for passage_id, blob in connection.execute("SELECT id, vector FROM passages"):
            vector = array("f")
            vector.frombytes(blob)
            scored.append((sum(a * b for a, b in zip(values, vector, strict=True)), passage_id))
        connection.close()
        scored.sort(reverse=True)
        return [passage_id - 1 for _, passage_id in scored[:k]]  # ids count from 1

    return search


# --- faiss ---------------------------------------------------------------------------------------


def faiss_library() -> Any:
    faiss = library("faiss")
    # One thread, as a web worker searches one question at a time; OpenMP's spinning threads
    # only add latency on shared cores for a single query.
    faiss.omp_set_num_threads(1)
    return faiss


def build_faiss_flat(vectors: Matrix, folder: Path) -> None:
    faiss = faiss_library()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    faiss.write_index(flat, str(folder / "flat.faiss"))


def build_faiss_hnsw(vectors: Matrix, folder: Path) -> None:
    faiss = faiss_library()
    graph = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    graph.add(vectors)
    faiss.write_index(graph, str(folder / "hnsw.faiss"))


def open_faiss(name: str, ef_search: int | None = None) -> Callable[[Path], Search]:
    def open_(folder: Path) -> Search:
        faiss = faiss_library()
        opened = faiss.read_index(str(folder / name))
        if ef_search is not None:
            opened.hnsw.efSearch = ef_search

        def search(query: Matrix, k: int) -> list[int]:
            _, rows = opened.search(query[None, :], k)
            return [int(row) for row in rows[0]]

        return search

    return open_


# --- usearch -------------------------------------------------------------------------------------


def build_usearch(vectors: Matrix, folder: Path) -> None:
    usearch = library("usearch.index")
    graph = usearch.Index(ndim=vectors.shape[1], metric="ip", dtype="f32")
    graph.add(np.arange(len(vectors)), vectors)
    graph.save(str(folder / "graph.usearch"))


def open_usearch(folder: Path) -> Search:
    usearch = library("usearch.index")
    opened = usearch.Index.restore(str(folder / "graph.usearch"))

    def search(query: Matrix, k: int) -> list[int]:
        return [int(key) for key in opened.search(query, k).keys]

    return search


# --- LanceDB -------------------------------------------------------------------------------------


def build_lancedb(vectors: Matrix, folder: Path) -> None:
    lancedb = library("lancedb")
    pa = library("pyarrow")
    column = pa.FixedSizeListArray.from_arrays(
        pa.array(vectors.ravel(), pa.float32()), vectors.shape[1]
    )
    table = pa.table({"id": pa.array(np.arange(len(vectors))), "vector": column})
    lancedb.connect(str(folder / "lance")).create_table("passages", data=table)


def open_lancedb(folder: Path) -> Search:
    lancedb = library("lancedb")
    table = lancedb.connect(str(folder / "lance")).open_table("passages")

    def search(query: Matrix, k: int) -> list[int]:
        found = (
            table.search(query).distance_type("dot").limit(k).select(["id", "_distance"]).to_arrow()
        )
        return [int(row) for row in found["id"].to_pylist()]

    return search


# --- sqlite-vec ----------------------------------------------------------------------------------


def vec_connection(path: Path) -> sqlite3.Connection:
    sqlite_vec = library("sqlite_vec")
    connection = sqlite3.connect(path)
    if not hasattr(connection, "enable_load_extension"):
        connection.close()
        raise Unavailable(
            "this Python's sqlite3 was built without extension loading (no"
            " enable_load_extension), so sqlite-vec cannot be loaded; Debian's python3 can"
        )
    connection.enable_load_extension(True)
    sqlite_vec.load(connection)
    connection.enable_load_extension(False)
    return connection


def build_sqlite_vec(vectors: Matrix, folder: Path) -> None:
    connection = vec_connection(folder / "vec.sqlite")
    with connection:
        connection.execute(
            f"CREATE VIRTUAL TABLE passages USING vec0(vector float[{vectors.shape[1]}]"
            " distance_metric=cosine)"
        )
        connection.executemany(
            "INSERT INTO passages (rowid, vector) VALUES (?, ?)",
            ((row + 1, vector.tobytes()) for row, vector in enumerate(vectors)),
        )
    connection.close()


def open_sqlite_vec(folder: Path) -> Search:
    connection = vec_connection(folder / "vec.sqlite")

    def search(query: Matrix, k: int) -> list[int]:
        rows = connection.execute(
            "SELECT rowid FROM passages WHERE vector MATCH ? AND k = ? ORDER BY distance",
            (query.tobytes(), k),
        ).fetchall()
        return [rowid - 1 for (rowid,) in rows]

    return search


STORES = {
    store.key: store
    for store in (
        Store("numpy", "numpy exact (coda)", "numpy", build_coda, open_coda),
        # OpenBLAS's threads for one matrix-vector product, like OpenMP's, wait for each other
        # on shared cores: the same search with one thread.
        Store(
            "numpy-1",
            "numpy exact, 1 BLAS thread",
            "numpy",
            build_coda,
            open_coda,
            env=(("OPENBLAS_NUM_THREADS", "1"),),
        ),
        Store(
            "python-scan",
            "SQLite, Python scan",
            "sqlite3",
            build_coda,
            open_python_scan,
            largest=10_000,
            queries=5,
        ),
        Store(
            "faiss-flat", "faiss IndexFlatIP", "faiss", build_faiss_flat, open_faiss("flat.faiss")
        ),
        Store(
            "faiss-hnsw",
            "faiss HNSW",
            "faiss",
            build_faiss_hnsw,
            open_faiss("hnsw.faiss", ef_search=64),
        ),
        Store("usearch", "usearch HNSW", "usearch", build_usearch, open_usearch),
        Store("lancedb", "LanceDB flat", "lancedb", build_lancedb, open_lancedb),
        Store("sqlite-vec", "sqlite-vec", "sqlite_vec", build_sqlite_vec, open_sqlite_vec),
    )
}


def child(store_key: str, folder: Path, queries_path: Path, top_k: int) -> dict[str, Any]:
    """Open one store in this fresh process and search it: the memory its library adds on
    import, what opening and searching add after that, the search times, and what it found."""
    store = STORES[store_key]
    queries: Matrix = np.load(queries_path)[: store.queries]
    before_import = resident_bytes()
    library(store.library)
    after_import = resident_bytes()
    started = time.perf_counter()
    search = store.open(folder)
    open_seconds = time.perf_counter() - started
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(list(search(query, top_k)))
        times.append(time.perf_counter() - started)
    return {
        "import_bytes": after_import - before_import,
        "memory_bytes": resident_bytes() - after_import,
        "open_seconds": open_seconds,
        "times": times,
        "found": found,
    }


def main(argv: list[str]) -> int:
    store_key, folder, queries_path, top_k = argv
    try:
        print(json.dumps(child(store_key, Path(folder), Path(queries_path), int(top_k))))
    except Unavailable as exc:
        print(json.dumps({"unavailable": str(exc)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
