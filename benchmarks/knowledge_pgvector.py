"""The knowledge index in PostgreSQL with pgvector measured: writing it, and a search by HNSW
beside an exact scan of the same rows.

    python -m benchmarks.knowledge_pgvector [--sizes 10000,100000] [--dimension 384] [--url URL]

Synthetic passages (400 characters) with random unit vectors, written through the indexer's port
(`PostgresWriter`: rows inserted, then the HNSW index built at commit) into a throwaway cluster
(tests/support/postgres_server.py, scripts/install-postgres.sh) or the database `--url` names,
which is emptied. Then, as a web instance searches: the time of one search for the top 5 over a
pooled connection on loopback (median and 99th percentile of 200 questions) with the HNSW index
(pgvector's defaults, m 16 and ef_construction 64; ef_search 40, its default, and 100), and with
index scans turned off (an exact scan, ranked as the file's numpy search ranks); and the HNSW
search's recall of the exact top 5, and how often its best passage is the exact best, for random
questions (the worst case: random vectors have no neighbourhoods) and for questions near a
passage (cosine 0.6); or, with `--vectors`, real embeddings, some held out as questions.
Embedding the question is not counted. Prints a plain table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import numpy.typing as npt
import psycopg

from coda.knowledge.chunks import Passage
from coda.knowledge.index import IndexInfo
from coda.knowledge.postgres import FILES, META, PASSAGES, PostgresIndex, PostgresWriter
from tests.support.postgres_server import PostgresServer, postgres_bindir

TEXT = "社内規程の本文です。" * 40  # 400 characters
QUESTIONS = 200
TOP_K = 5


def unit_vectors(rng: np.random.Generator, count: int, dimension: int) -> npt.NDArray[np.float32]:
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for table in (PASSAGES, FILES, META):
            connection.execute(f"DROP TABLE IF EXISTS {table}")


def build(url: str, vectors: npt.NDArray[np.float32]) -> float:
    started = time.perf_counter()
    writer = PostgresWriter(url)
    per_file = 100
    for start in range(0, len(vectors), per_file):
        cut = [Passage(TEXT, ("章", "節"), None)] * min(per_file, len(vectors) - start)
        writer.replace_file(f"doc{start}.md", "x", cut, vectors[start : start + len(cut)].tolist())
    writer.write_info(IndexInfo(embedding_model="bench", dimension=vectors.shape[1]))
    writer.commit()
    return time.perf_counter() - started


def timed(index: PostgresIndex, queries: list[list[float]]) -> tuple[list[float], list[list[str]]]:
    index.search(queries[0], top_k=TOP_K, min_score=-1)  # the pool's connection made
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = index.search(query, top_k=TOP_K, min_score=-1)
        times.append((time.perf_counter() - started) * 1000)
        found.append([f"{hit.path}/{hit.score:.6f}" for hit in hits])
    return times, found


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def near(
    rng: np.random.Generator, vectors: npt.NDArray[np.float32], cosine: float
) -> npt.NDArray[np.float32]:
    """Questions each at `cosine` from a passage picked at random, as a real question sits near
    the passage that answers it (MiniLM: 0.5-0.6, docs/knowledge.md)."""
    picked = vectors[rng.choice(len(vectors), QUESTIONS, replace=False)]
    noise = unit_vectors(rng, QUESTIONS, vectors.shape[1])
    noise -= picked * np.sum(noise * picked, axis=1, keepdims=True)  # orthogonal to the passage
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    questions: npt.NDArray[np.float32] = (cosine * picked + np.sqrt(1 - cosine**2) * noise).astype(
        np.float32
    )
    return questions


def measure(url: str, count: int, dimension: int, ef_searches: list[int]) -> list[str]:
    rng = np.random.default_rng(count)
    vectors = unit_vectors(rng, count, dimension)
    asked = {
        "random": unit_vectors(rng, QUESTIONS, dimension).tolist(),
        "near a passage": near(rng, vectors, 0.6).tolist(),
    }
    return measure_with(url, vectors, asked, ef_searches)


def measure_real(url: str, path: str, ef_searches: list[int]) -> list[str]:
    """Real embeddings (an .npy matrix of unit vectors): the first 200 held out as questions,
    each a passage the index does not hold, the rest indexed."""
    loaded = np.load(path).astype(np.float32)
    asked = {"held-out passages": loaded[:QUESTIONS].tolist()}
    return measure_with(url, loaded[QUESTIONS:], asked, ef_searches)


def measure_with(
    url: str,
    vectors: npt.NDArray[np.float32],
    asked: dict[str, list[list[float]]],
    ef_searches: list[int],
) -> list[str]:
    count = len(vectors)
    empty(url)
    write_s = build(url, vectors)
    rows = []
    for kind, queries in asked.items():
        exact = PostgresIndex(url, timeout=60, exact=True)
        try:
            exact_ms, truth = timed(exact, queries)
        finally:
            exact.close()
        for ef_search in ef_searches:
            hnsw = PostgresIndex(url, timeout=60, ef_search=ef_search)
            try:
                hnsw_ms, approximate = timed(hnsw, queries)
            finally:
                hnsw.close()
            pairs = list(zip(approximate, truth, strict=True))
            recall = sum(len(set(a) & set(t)) for a, t in pairs) / (TOP_K * QUESTIONS)
            first = sum(a[:1] == t[:1] for a, t in pairs) / QUESTIONS
            rows.append(
                f"| {count:,} | {write_s:.1f} | {kind} | {ef_search}"
                f" | {statistics.median(hnsw_ms):.2f} | {p99(hnsw_ms):.2f} | {recall:.2f}"
                f" | {first:.2f} | {statistics.median(exact_ms):.1f} | {p99(exact_ms):.1f} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knowledge_pgvector")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--ef-search", default="40,100", help="HNSW's hnsw.ef_search values")
    parser.add_argument("--url", help="a database to empty and use; else a throwaway cluster")
    parser.add_argument("--vectors", help="an .npy matrix of real embeddings, instead of --sizes")
    arguments = parser.parse_args()
    server = None
    url = arguments.url
    if not url:
        server = PostgresServer(postgres_bindir())
        server.start()
        url = server.create_database("bench")
    try:
        print(
            "| passages | write s | questions | ef_search | HNSW ms p50 | p99 | recall@5"
            " | best found | exact ms p50 | p99 |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        efs = [int(ef) for ef in arguments.ef_search.split(",")]
        if arguments.vectors:
            print("\n".join(measure_real(url, arguments.vectors, efs)), flush=True)
            return
        for size in arguments.sizes.split(","):
            for row in measure(url, int(size), arguments.dimension, efs):
                print(row, flush=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
