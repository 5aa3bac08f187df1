"""The index: one SQLite file holding every passage, its source, heading path, page and vector,
and the embedding model's name and dimension; searched by brute force over a numpy matrix.

Why this shape (measured in benchmarks/knowledge_index.py, figures in docs/knowledge.md): one
file is what an image, a compose volume or a Cloud Storage volume carries, and SQLite opens it
read-only (`immutable=1`, so no lock or journal is ever written beside it) from any number of
instances; an exact dot product over a float32 matrix answers 100,000 passages of 384 dimensions
in milliseconds, with no approximate index to build, tune or keep in step, and the same ranking
as pgvector's exact scan. Vectors are unit length (`coda.llm.embedding`), so the dot product is
the cosine.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from coda.knowledge.chunks import Passage

FORMAT_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, passages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, heading TEXT NOT NULL, page INTEGER,
    text TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS passages_path ON passages (path);
"""
Matrix = npt.NDArray[np.float32]


class IndexUnusable(Exception):
    """The index cannot be used as it is; the message says what to do (usually: re-index)."""


@dataclass(frozen=True, kw_only=True)
class IndexInfo:
    """What an index was built with: passages embedded with another model, another prefix or
    other passage sizes are not comparable with its vectors."""

    embedding_model: str
    dimension: int
    passage_prefix: str = ""
    passage_chars: int = 0


@dataclass(frozen=True)
class Hit:
    """A passage found for a question: its cosine `score`, its file (relative to the indexed
    folder) and the passage itself."""

    score: float
    path: str
    passage: Passage


def connect_for_writing(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    return connection


def read_info(connection: sqlite3.Connection) -> IndexInfo | None:
    """The index's `IndexInfo`, or None for an empty one."""
    return info_from_meta(dict(connection.execute("SELECT key, value FROM meta").fetchall()))


def write_info(connection: sqlite3.Connection, info: IndexInfo) -> None:
    connection.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta_of(info).items())


def info_from_meta(meta: dict[str, str]) -> IndexInfo | None:
    """The `IndexInfo` a store's meta table holds (key to value), or None for an empty one;
    raises `IndexUnusable` for another format."""
    if "embedding_model" not in meta:
        return None
    if meta.get("format") != FORMAT_VERSION:
        raise IndexUnusable(f"index format {meta.get('format')!r}, not {FORMAT_VERSION}: re-index")
    return IndexInfo(
        embedding_model=meta["embedding_model"],
        dimension=int(meta["dimension"]),
        passage_prefix=meta.get("passage_prefix", ""),
        passage_chars=int(meta.get("passage_chars", "0")),
    )


def meta_of(info: IndexInfo) -> dict[str, str]:
    """What a store's meta table holds for `info`, with this format's version."""
    return {
        "format": FORMAT_VERSION,
        "embedding_model": info.embedding_model,
        "dimension": str(info.dimension),
        "passage_prefix": info.passage_prefix,
        "passage_chars": str(info.passage_chars),
    }


def known_files(connection: sqlite3.Connection) -> dict[str, str]:
    """Each indexed file's path and content hash."""
    return dict(connection.execute("SELECT path, sha256 FROM files").fetchall())


def replace_file(
    connection: sqlite3.Connection,
    path: str,
    sha256: str,
    passages: Sequence[Passage],
    vectors: Sequence[Sequence[float]],
) -> None:
    """The file's passages and vectors, in place of whatever it had (one transaction)."""
    with connection:
        forget_file(connection, path)
        connection.executemany(
            "INSERT INTO passages (path, heading, page, text, vector) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    path,
                    json.dumps(list(p.heading), ensure_ascii=False),
                    p.page,
                    p.text,
                    np.asarray(v, dtype="<f4").tobytes(),
                )
                for p, v in zip(passages, vectors, strict=True)
            ],
        )
        connection.execute("INSERT INTO files VALUES (?, ?, ?)", (path, sha256, len(passages)))


def forget_file(connection: sqlite3.Connection, path: str) -> None:
    connection.execute("DELETE FROM passages WHERE path = ?", (path,))
    connection.execute("DELETE FROM files WHERE path = ?", (path,))


class SqliteWriter:
    """`coda.knowledge.store.IndexWriter` over the file: the run writes a copy beside it
    (`.partial`) and `commit` moves the copy over the file, so instances opening it meanwhile
    see the old index or the new one, never half of one; `abort` leaves the old one in place."""

    def __init__(self, path: Path) -> None:
        self._out = path
        self._working = path.with_name(path.name + ".partial")
        if path.exists():
            shutil.copyfile(path, self._working)
        else:
            self._working.unlink(missing_ok=True)
        self._db = connect_for_writing(self._working)

    def read_info(self) -> IndexInfo | None:
        return read_info(self._db)

    def write_info(self, info: IndexInfo) -> None:
        with self._db:
            write_info(self._db, info)

    def known_files(self) -> dict[str, str]:
        return known_files(self._db)

    def replace_file(
        self,
        path: str,
        sha256: str,
        passages: Sequence[Passage],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        replace_file(self._db, path, sha256, passages, vectors)

    def forget_file(self, path: str) -> None:
        with self._db:
            forget_file(self._db, path)

    def clear(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM passages")
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM meta")

    def count(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM passages").fetchone()
        return int(count)

    def commit(self) -> None:
        self._db.execute("VACUUM")
        self._db.close()
        os.replace(self._working, self._out)

    def abort(self) -> None:
        self._db.close()
        self._working.unlink(missing_ok=True)


class KnowledgeIndex:
    """An index opened read-only: the vectors in memory as one matrix, the passages' text read
    from the file when found. Safe to search from many greenlets or threads at once."""

    def __init__(self, path: Path) -> None:
        """Raises `IndexUnusable` for a missing, empty or unreadable index."""
        if not path.is_file():
            raise IndexUnusable(f"no index at {path}: run `python -m coda.knowledge index`")
        try:
            self._db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            info = read_info(self._db)
            if info is None:
                raise IndexUnusable(
                    f"the index at {path} is empty: run `python -m coda.knowledge index`"
                )
            self.info = info
            self._ids, self._matrix = _load(self._db, info.dimension)
        except sqlite3.DatabaseError as exc:
            raise IndexUnusable(f"{path} is not a coda index ({exc}): re-index") from exc
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, vector: Sequence[float], *, top_k: int, min_score: float) -> list[Hit]:
        """The `top_k` passages nearest `vector` (unit length), best first, each scoring at least
        `min_score` (a cosine, -1 to 1)."""
        if not len(self._ids) or top_k < 1:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.info.dimension,):
            raise IndexUnusable(
                f"a question of {query.shape[0]} dimensions for an index of {self.info.dimension}"
            )
        scores = self._matrix @ query
        count = min(top_k, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best])]
        chosen = [(int(self._ids[i]), float(scores[i])) for i in best if scores[i] >= min_score]
        return self._hits(chosen)

    def _hits(self, chosen: list[tuple[int, float]]) -> list[Hit]:
        if not chosen:
            return []
        marks = ",".join("?" * len(chosen))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, path, heading, page, text FROM passages WHERE id IN ({marks})",  # noqa: S608 - only placeholders
                [i for i, _ in chosen],
            ).fetchall()
        found = {row[0]: row for row in rows}
        hits = []
        for passage_id, score in chosen:
            _, path, heading, page, text = found[passage_id]
            hits.append(Hit(score, path, Passage(text, tuple(json.loads(heading)), page)))
        return hits

    def close(self) -> None:
        self._db.close()


def _load(db: sqlite3.Connection, dimension: int) -> tuple[npt.NDArray[np.int64], Matrix]:
    """Every passage's id and vector, as one contiguous matrix."""
    (count,) = db.execute("SELECT count(*) FROM passages").fetchone()
    ids = np.empty(count, dtype=np.int64)
    matrix = np.empty((count, dimension), dtype=np.float32)
    rows: Iterable[tuple[int, bytes]] = db.execute("SELECT id, vector FROM passages ORDER BY id")
    for row_number, (passage_id, blob) in enumerate(rows):
        ids[row_number] = passage_id
        matrix[row_number] = np.frombuffer(blob, dtype="<f4")
    return ids, matrix
