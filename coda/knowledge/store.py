"""The index port, both sides: what the indexer writes through (`IndexWriter`) and what a turn
searches (`SearchIndex`), and which store a location names: a `postgresql://` URL is PostgreSQL
with pgvector (`coda.knowledge.postgres`, imported only then, with psycopg), anything else the
one SQLite file (`coda.knowledge.index`).

Why two stores (docs/knowledge.md): the file is copied into every instance and searched there
exactly, which is the simplest thing up to about 100,000 passages; past that, or when instances
should see a re-index without a restart, one PostgreSQL serves every instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from coda.knowledge.chunks import Passage
from coda.knowledge.index import Hit, IndexInfo, KnowledgeIndex, SqliteWriter

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class IndexWriter(Protocol):
    """One indexing run's view of an index. Nothing it writes is seen by searches before
    `commit`; `abort` leaves the index as it was before the run."""

    def read_info(self) -> IndexInfo | None:
        """What the index was built with, or None for an empty one."""
        ...

    def write_info(self, info: IndexInfo) -> None: ...

    def known_files(self) -> dict[str, str]:
        """Each indexed file's path and SHA-256 (hex)."""
        ...

    def replace_file(
        self,
        path: str,
        sha256: str,
        passages: Sequence[Passage],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """The file's passages and unit-length vectors, in place of whatever it had."""
        ...

    def forget_file(self, path: str) -> None: ...

    def clear(self) -> None:
        """Every file, passage and the info forgotten (another model's vectors)."""
        ...

    def count(self) -> int:
        """The passages the index holds."""
        ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class SearchIndex(Protocol):
    """An index opened for searching, safe to search from many greenlets at once."""

    @property
    def info(self) -> IndexInfo: ...

    def __len__(self) -> int: ...

    def search(self, vector: Sequence[float], *, top_k: int, min_score: float) -> list[Hit]:
        """The `top_k` passages nearest `vector` (unit length), best first, each scoring at least
        `min_score` (a cosine, -1 to 1). Raises `IndexUnusable` for a vector of another
        dimension, and `coda.llm.LLMError` when the store cannot answer in time."""
        ...

    def close(self) -> None: ...


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_writer(location: str | Path) -> IndexWriter:
    """A writer for the file or the `postgresql://` URL `location`; raises `IndexUnusable` when
    it cannot be opened (the message never holds the URL's password)."""
    if is_postgres(location):
        from coda.knowledge.postgres import PostgresWriter

        return PostgresWriter(str(location))
    return SqliteWriter(Path(location))


def open_index(location: str, *, timeout: float) -> SearchIndex:
    """The index at the file or `postgresql://` URL `location`, opened for searching; `timeout`
    (seconds) bounds each PostgreSQL query and connection. Raises `IndexUnusable`."""
    if is_postgres(location):
        from coda.knowledge.postgres import PostgresIndex

        return PostgresIndex(location, timeout=timeout)
    return KnowledgeIndex(Path(location))


def shown(location: str | Path) -> str:
    """`location` as messages may show it: a URL's password masked."""
    if is_postgres(location):
        from coda.knowledge.postgres import masked

        return masked(str(location))
    return str(location)
