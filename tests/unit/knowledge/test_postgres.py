"""The index in a real PostgreSQL with pgvector (the session's throwaway cluster, a database per
test): written and re-indexed through the same port as the file, searched as the file searches
(exactly, or by HNSW with its recall measured), refused at start when built with another model,
bounded by its timeout, and never showing the URL's password."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import psycopg
import pytest

from coda.config import SettingsError
from coda.frontend import EXTENSION_KEY
from coda.infrastructure.app import create_app
from coda.knowledge.chunks import Passage
from coda.knowledge.index import IndexInfo, IndexUnusable, KnowledgeIndex, SqliteWriter
from coda.knowledge.postgres import PASSAGES, PostgresIndex, PostgresWriter, masked
from coda.knowledge.retriever import IndexKnowledgeBase
from coda.knowledge.store import IndexWriter, SearchIndex, open_index, shown
from coda.llm import LLMTimeoutError, UnavailableError
from tests.support.logs import captured
from tests.support.ollama_server import ROOT
from tests.support.postgres_server import PASSWORD
from tests.support.settings import WEB_SETTINGS
from tests.support.small_index import assert_small_search, write_small
from tests.support.stub_model import StubModel


def test_search_answers_best_first_above_the_threshold(postgres_url: str) -> None:
    write_small(PostgresWriter(postgres_url))
    opened = PostgresIndex(postgres_url, timeout=5)
    try:
        assert_small_search(opened)
        with pytest.raises(IndexUnusable, match="3 dimensions"):
            opened.search([1.0, 0.0, 0.0], top_k=1, min_score=0)
    finally:
        opened.close()


def test_a_rerun_replaces_forgets_and_clears_in_one_transaction(postgres_url: str) -> None:
    write_small(PostgresWriter(postgres_url))
    writer = PostgresWriter(postgres_url)
    assert writer.known_files() == {"a.md": "h1", "b.md": "h2"}
    writer.replace_file("a.md", "h3", [Passage("west")], [[-1.0, 0.0]])
    writer.forget_file("b.md")
    assert writer.count() == 1

    searching = PostgresIndex(postgres_url, timeout=5)
    try:  # nothing of the run is seen before it commits
        assert [h.passage.text for h in searching.search([0, 1], top_k=5, min_score=-1)] == [
            "north",
            "north-east",
            "east",
        ]
        writer.commit()
        assert [h.passage.text for h in searching.search([0, 1], top_k=5, min_score=-1)] == ["west"]
    finally:
        searching.close()

    aborted = PostgresWriter(postgres_url)
    aborted.clear()  # another model, of another dimension
    aborted.replace_file("c.md", "h4", [Passage("up")], [[0.0, 0.0, 1.0]])
    aborted.abort()
    again = PostgresWriter(postgres_url)
    try:
        assert again.known_files() == {"a.md": "h3"}
        assert again.read_info() == IndexInfo(embedding_model="embed:1", dimension=2)
        again.clear()
        again.replace_file("c.md", "h4", [Passage("up")], [[0.0, 0.0, 1.0]])
        again.write_info(IndexInfo(embedding_model="embed:2", dimension=3))
        again.commit()
    finally:
        again.abort()
    reopened = PostgresIndex(postgres_url, timeout=5)
    try:
        assert reopened.info.dimension == 3
        assert reopened.search([0, 0, 1], top_k=1, min_score=0)[0].passage.text == "up"
    finally:
        reopened.close()


def unit_vectors(count: int, dimension: int, seed: int) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def fill(writer: IndexWriter, vectors: npt.NDArray[np.float32]) -> None:
    """One file of 100 passages per 100 vectors, each passage's text its row number."""
    for start in range(0, len(vectors), 100):
        rows = range(start, min(start + 100, len(vectors)))
        cut = [Passage(str(i)) for i in rows]
        writer.replace_file(f"f{start}.md", str(start), cut, vectors[start : rows.stop].tolist())
    writer.write_info(IndexInfo(embedding_model="embed:1", dimension=vectors.shape[1]))
    writer.commit()


def ranked(index: SearchIndex, query: npt.NDArray[np.float32], top_k: int) -> list[int]:
    hits = index.search(query.tolist(), top_k=top_k, min_score=-1)
    return [int(hit.passage.text) for hit in hits]


def test_the_ranking_is_the_files_exactly_and_hnsw_recalls_nine_in_ten(
    postgres_url: str, tmp_path: Path
) -> None:
    vectors = unit_vectors(3000, 64, seed=7)
    queries = unit_vectors(30, 64, seed=8)
    fill(PostgresWriter(postgres_url), vectors)
    fill(SqliteWriter(tmp_path / "k.sqlite"), vectors)
    in_file = KnowledgeIndex(tmp_path / "k.sqlite")
    exact = PostgresIndex(postgres_url, timeout=5, exact=True)
    hnsw = PostgresIndex(postgres_url, timeout=5)
    try:
        found = 0
        for query in queries:
            expected = ranked(in_file, query, 10)
            assert expected == list(np.argsort(-(vectors @ query))[:10])
            assert ranked(exact, query, 10) == expected
            found += len(set(ranked(hnsw, query, 10)) & set(expected))
        recall = found / (10 * len(queries))
        assert recall >= 0.9, recall
        first = queries[0].tolist()
        cut = exact.search(first, top_k=10, min_score=-1)[4].score
        assert len(exact.search(first, top_k=10, min_score=cut)) == 5
    finally:
        in_file.close()
        exact.close()
        hnsw.close()


def test_start_refuses_an_index_of_another_embedding_model(postgres_url: str) -> None:
    write_small(PostgresWriter(postgres_url), model="old-embedder:1")
    settings = replace(WEB_SETTINGS, knowledge_index=postgres_url, embedding_model="new:1")

    with pytest.raises(SettingsError, match="re-index") as caught:
        create_app(settings, chat_model=StubModel())

    assert "old-embedder:1" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_start_opens_an_index_of_the_configured_model(postgres_url: str) -> None:
    write_small(PostgresWriter(postgres_url))
    settings = replace(WEB_SETTINGS, knowledge_index=postgres_url, embedding_model="embed:1")

    app = create_app(settings, chat_model=StubModel())

    knowledge = app.extensions[EXTENSION_KEY].knowledge
    assert isinstance(knowledge, IndexKnowledgeBase)
    knowledge.close()


def test_the_password_is_masked_in_every_message(postgres_url: str) -> None:
    assert masked("postgresql://u:p%40ss@db:5432/k?sslmode=require&password=x") == (
        "postgresql://u:***@db:5432/k?sslmode=require&password=***"
    )
    assert shown(postgres_url) == postgres_url.replace(PASSWORD, "***")
    wrong = postgres_url.replace(PASSWORD, "wrong-secret-41")
    with pytest.raises(IndexUnusable) as refused:
        PostgresIndex(wrong, timeout=5)
    assert "password authentication failed" in str(refused.value)
    assert "wrong-secret-41" not in str(refused.value)
    assert "***" in str(refused.value)
    with pytest.raises(IndexUnusable) as empty:
        open_index(postgres_url, timeout=5)
    assert "no index in" in str(empty.value)
    assert PASSWORD not in str(empty.value)
    settings = replace(WEB_SETTINGS, knowledge_index=wrong, embedding_model="embed:1")
    assert "wrong-secret-41" not in repr(settings)


def hold_the_table(url: str, seconds: float) -> threading.Thread:
    """Another session holding the passages' table locked for `seconds`: a search waits."""
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(url) as connection:
            connection.execute(f"LOCK TABLE {PASSAGES} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            connection.execute("SELECT pg_sleep(%s)", [seconds])

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    return holder


def test_a_search_slower_than_the_timeout_or_a_lost_connection_is_an_llm_error(
    postgres_url: str,
) -> None:
    write_small(PostgresWriter(postgres_url))
    opened = PostgresIndex(postgres_url, timeout=0.5)
    try:
        holder = hold_the_table(postgres_url, 2)
        with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.5s"):
            opened.search([0, 1], top_k=1, min_score=0)
        holder.join()
    finally:
        opened.close()
    opened = PostgresIndex(postgres_url, timeout=10)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(  # a failover: every pooled connection is lost, and replaced
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert opened.search([0, 1], top_k=1, min_score=0)[0].passage.text == "north"
            admin.execute(f"ALTER TABLE {PASSAGES} RENAME TO elsewhere")
        with captured("psycopg") as records, pytest.raises(UnavailableError) as failed:
            opened.search([0, 1], top_k=1, min_score=0)
        assert "***" in str(failed.value)
        assert PASSWORD not in str(failed.value)
        assert all(PASSWORD not in r.getMessage() for r in records)
    finally:
        opened.close()


GEVENT_PROBE = """
import sys, time
from gevent import monkey
monkey.patch_all()
import gevent
from coda.knowledge.postgres import PostgresIndex

index = PostgresIndex(sys.argv[1], timeout=10)
print("ready", flush=True)
sys.stdin.readline()  # the test holds the table locked now
ticks = []
def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)
ticker = gevent.spawn(tick)
gevent.sleep(0.05)
started = time.monotonic()
hits = index.search([0.0, 1.0], top_k=1, min_score=0)
took = time.monotonic() - started
ticker.kill()
during = [t for t in ticks if started <= t <= started + took]
print(f"{took:.2f} {len(during)} {hits[0].passage.text}")
index.close()
"""


def test_a_search_waiting_on_postgres_holds_only_its_greenlet(postgres_url: str) -> None:
    """Under gevent's monkey-patching (the web workers'), while a search waits a second for the
    server, another greenlet keeps running: psycopg waits on the patched `select`. (With
    PSYCOPG_WAIT_FUNC=wait_c, psycopg's C wait, the ticker gets no tick at all.)"""
    write_small(PostgresWriter(postgres_url))
    with subprocess.Popen(
        [sys.executable, "-c", GEVENT_PROBE, postgres_url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as probe:
        assert probe.stdout is not None
        assert probe.stdout.readline() == "ready\n"
        holder = hold_the_table(postgres_url, 1)
        output, errors = probe.communicate("go\n", timeout=60)
        holder.join()

    assert probe.returncode == 0, errors
    took, ticks, text = output.split()
    assert float(took) >= 0.5
    assert text == "north"
    assert int(ticks) >= 0.5 * float(took) / 0.01  # at least half the ticks of an idle loop
