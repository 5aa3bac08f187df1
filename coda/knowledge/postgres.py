"""The index in PostgreSQL with pgvector: the same port as the SQLite file (`coda.knowledge.store`),
for a corpus past what every instance should hold in memory, or instances that should see a
re-index without a restart. Imported only for a `postgresql://` location, so psycopg is loaded
only then.

Three tables, prefixed `coda_knowledge_` to share a database: `meta` (as the file's: model,
dimension, prefix, passage size), `files` (path, SHA-256) and `passages` with a `vector(N)`
column under an HNSW index with `vector_cosine_ops` (vectors are unit length, so 1 - the cosine
distance is the cosine the file's search answers). The HNSW index is built once the first run has
loaded its rows (pgvector builds it far faster over loaded rows than row by row), and kept in
step by later runs, with pgvector's default build parameters (m 16, ef_construction 64). Searches
look at 100 candidates (`hnsw.ef_search`; with pgvector's default, 40, synthetic questions near
a passage found it first 94% of the time at 10,000 passages, against 99% with 100:
docs/knowledge.md); it must stay at least top_k (at most 20).

A run is one transaction, behind an advisory lock that serializes runs: searches see the old
index until it commits, and a failed run leaves it as it was. Every search runs on a pooled
connection under `statement_timeout`; psycopg waits with the socket module gevent patches (psycopg
3.3 picks its pure-Python wait when it finds `select` patched), so a query holds only its own
greenlet. A URL's password is never shown: `masked` is what messages and logs get.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import errors, sql
from psycopg_pool import ConnectionPool, PoolTimeout

from coda.knowledge.chunks import Passage
from coda.knowledge.index import Hit, IndexInfo, IndexUnusable, info_from_meta, meta_of
from coda.llm import LLMTimeoutError, UnavailableError

META = "coda_knowledge_meta"
FILES = "coda_knowledge_files"
PASSAGES = "coda_knowledge_passages"
HNSW_INDEX = "coda_knowledge_passages_hnsw"
# pgvector's own defaults for the build; more candidates than its 40 for a search (above).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 100
# Searches one worker runs at once; more wait for a connection, within the timeout.
POOL_SIZE = 4
RUN_LOCK = 0x636F6461  # pg_advisory_xact_lock's key for indexing runs: "coda"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {META} (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {FILES} (
    path text PRIMARY KEY, sha256 text NOT NULL, passages integer NOT NULL);
"""
MASK = "***"


def masked(url: str) -> str:
    """`url` with its password (in the user part or a `password=` parameter) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{MASK}@{host}"
    query = urlencode(
        [
            (key, MASK if key == "password" else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="/:*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _scrubbed(text: str, url: str) -> str:
    """An error's text with the URL masked, and its password nowhere (libpq may quote the
    connection string it was given)."""
    text = text.replace(url, masked(url))
    parts = urlsplit(url)
    secrets = [parts.password] + [v for k, v in parse_qsl(parts.query) if k == "password"]
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK).replace(unquote(secret), MASK)
    return text


@contextmanager
def _unusable(url: str, doing: str) -> Iterator[None]:
    """psycopg's errors while opening or writing, as `IndexUnusable` naming the masked URL."""
    try:
        yield
    except psycopg.Error as exc:
        reason = _scrubbed(str(exc).strip(), url)
        raise IndexUnusable(f"{doing} {masked(url)} failed: {reason}") from None


def _connect(url: str, timeout: float, **options: Any) -> psycopg.Connection[Any]:
    # libpq's connect_timeout is whole seconds, and below 2 it is taken as 2.
    return psycopg.connect(url, connect_timeout=max(2, math.ceil(timeout)), **options)


def _read_info(connection: psycopg.Connection[Any]) -> IndexInfo | None:
    exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [META]).fetchone()
    if not exists or not exists[0]:
        return None
    rows = connection.execute(
        sql.SQL("SELECT key, value FROM {}").format(sql.Identifier(META))
    ).fetchall()
    return info_from_meta(dict(rows))


class PostgresWriter:
    """`coda.knowledge.store.IndexWriter` in one transaction on one connection."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        """Raises `IndexUnusable` when the server cannot be reached, or `vector` is neither
        enabled nor may be by this user."""
        self._url = url
        with _unusable(url, "connecting to"):
            self._db = _connect(url, timeout)
        try:
            with _unusable(url, "enabling the vector extension in"):
                self._db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                self._db.commit()
            with _unusable(url, "writing the index to"):
                register_vector(self._db)
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK])
                self._db.execute(SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def read_info(self) -> IndexInfo | None:
        with _unusable(self._url, "reading the index from"):
            return _read_info(self._db)

    def write_info(self, info: IndexInfo) -> None:
        with _unusable(self._url, "writing the index to"):
            self._ensure_passages(info.dimension)
            with self._db.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {} VALUES (%s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                    ).format(sql.Identifier(META)),
                    list(meta_of(info).items()),
                )

    def known_files(self) -> dict[str, str]:
        with _unusable(self._url, "reading the index from"):
            rows = self._db.execute(
                sql.SQL("SELECT path, sha256 FROM {}").format(sql.Identifier(FILES))
            ).fetchall()
        return dict(rows)

    def replace_file(
        self,
        path: str,
        sha256: str,
        passages: Sequence[Passage],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        with _unusable(self._url, "writing the index to"):
            if len(vectors):
                self._ensure_passages(len(vectors[0]))
            self._forget(path)
            with self._db.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {} (path, heading, page, text, embedding)"
                        " VALUES (%s, %s, %s, %s, %s)"
                    ).format(sql.Identifier(PASSAGES)),
                    [
                        (path, list(p.heading), p.page, p.text, np.asarray(v, dtype=np.float32))
                        for p, v in zip(passages, vectors, strict=True)
                    ],
                )
            self._db.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(sql.Identifier(FILES)),
                [path, sha256, len(passages)],
            )

    def forget_file(self, path: str) -> None:
        with _unusable(self._url, "writing the index to"):
            self._forget(path)

    def _forget(self, path: str) -> None:
        if self._has_passages():
            self._db.execute(
                sql.SQL("DELETE FROM {} WHERE path = %s").format(sql.Identifier(PASSAGES)), [path]
            )
        self._db.execute(
            sql.SQL("DELETE FROM {} WHERE path = %s").format(sql.Identifier(FILES)), [path]
        )

    def clear(self) -> None:
        """Every table emptied, and the passages' table dropped: the next model's vectors may
        have another dimension."""
        with _unusable(self._url, "writing the index to"):
            self._db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(PASSAGES)))
            self._db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(FILES)))
            self._db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(META)))

    def count(self) -> int:
        if not self._has_passages():
            return 0
        with _unusable(self._url, "reading the index from"):
            row = self._db.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(PASSAGES))
            ).fetchone()
        return int(row[0]) if row else 0

    def commit(self) -> None:
        """The HNSW index built if the table has none yet (the first run: after its rows are
        loaded), then the run committed."""
        with _unusable(self._url, "writing the index to"):
            if self._has_passages():
                self._db.execute(
                    sql.SQL(
                        "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw"
                        " (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})"
                    ).format(
                        sql.Identifier(HNSW_INDEX),
                        sql.Identifier(PASSAGES),
                        sql.Literal(HNSW_M),
                        sql.Literal(HNSW_EF_CONSTRUCTION),
                    )
                )
            self._db.commit()
        self._db.close()

    def abort(self) -> None:
        if not self._db.closed:
            self._db.rollback()
        self._db.close()

    def _has_passages(self) -> bool:
        row = self._db.execute("SELECT to_regclass(%s) IS NOT NULL", [PASSAGES]).fetchone()
        return bool(row and row[0])

    def _ensure_passages(self, dimension: int) -> None:
        """The passages' table, its vectors of `dimension`, made on the run's first vectors."""
        if self._has_passages():
            return
        self._db.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigserial PRIMARY KEY, path text NOT NULL,"
                " heading text[] NOT NULL, page integer, text text NOT NULL,"
                " embedding vector({}) NOT NULL)"
            ).format(sql.Identifier(PASSAGES), sql.Literal(dimension))
        )
        self._db.execute(
            sql.SQL("CREATE INDEX {} ON {} (path)").format(
                sql.Identifier(PASSAGES + "_path"), sql.Identifier(PASSAGES)
            )
        )


class PostgresIndex:
    """`coda.knowledge.store.SearchIndex` over a pool of connections, each query bounded by
    `timeout` seconds (`statement_timeout`), as is the wait for a pooled connection.

    `exact` turns the HNSW index off for this pool's sessions: every search is then an exact
    scan, ranked as the file's numpy search ranks (for tests and measurements).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        exact: bool = False,
        ef_search: int = HNSW_EF_SEARCH,
        pool_size: int = POOL_SIZE,
    ) -> None:
        """Raises `IndexUnusable` when the server cannot be reached, holds no index, or an
        index of another format."""
        self._url = url
        self._timeout = timeout
        self._exact = exact
        self._ef_search = ef_search
        with _unusable(url, "opening the index at"), _connect(url, timeout) as connection:
            info = _read_info(connection)
            if info is None:
                raise IndexUnusable(
                    f"no index in {masked(url)}: run `python -m coda.knowledge index`"
                )
            row = connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(PASSAGES))
            ).fetchone()
        self.info: IndexInfo = info
        self._count = int(row[0]) if row else 0
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=timeout,
            open=False,
            configure=self._configure,
            # One round trip before each search: after a failover or an idle timeout, the
            # pooled connections are dead, and each would otherwise fail one search.
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": max(2, math.ceil(timeout))},
            name="coda-knowledge",
        )
        self._pool.open(wait=False)

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        register_vector(connection)
        connection.execute(
            sql.SQL("SET statement_timeout = {}").format(
                sql.Literal(max(1, round(self._timeout * 1000)))
            )
        )
        connection.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(self._ef_search)))
        if self._exact:
            connection.execute("SET enable_indexscan = off")

    def __len__(self) -> int:
        """The passages there were when the index was opened (a re-index adds or removes)."""
        return self._count

    def search(self, vector: Sequence[float], *, top_k: int, min_score: float) -> list[Hit]:
        if top_k < 1:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.info.dimension,):
            raise IndexUnusable(
                f"a question of {query.shape[0]} dimensions for an index of {self.info.dimension}"
            )
        statement = sql.SQL(
            "SELECT path, heading, page, text, embedding <=> %(q)s AS distance FROM {}"
            " ORDER BY distance LIMIT %(k)s"
        ).format(sql.Identifier(PASSAGES))
        try:
            with self._pool.connection() as connection:
                rows = connection.execute(statement, {"q": query, "k": top_k}).fetchall()
        except (PoolTimeout, errors.QueryCanceled) as exc:
            raise LLMTimeoutError(
                f"the knowledge index did not answer within {self._timeout}s: "
                + _scrubbed(str(exc), self._url)
            ) from None
        except psycopg.Error as exc:
            raise UnavailableError(
                f"the knowledge index at {masked(self._url)} failed: "
                + _scrubbed(str(exc), self._url)
            ) from None
        hits = []
        for path, heading, page, text, distance in rows:
            score = 1.0 - float(distance)
            if score >= min_score:
                hits.append(Hit(score, path, Passage(text, tuple(heading), page)))
        return hits

    def close(self) -> None:
        self._pool.close(timeout=self._timeout)
