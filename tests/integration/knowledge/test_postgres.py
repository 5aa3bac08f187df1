"""The knowledge base in a real PostgreSQL with pgvector, over the real Ollama embedding with
MiniLM: the operator's command indexing the test corpus there (and again, incrementally), the
questions finding their passages, a question asked through `/chat` whose passage reaches the
prompt Ollama got, and one asked while the index's table is gone, answered without passages."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient

from coda.infrastructure.bootstrap import build_embedding_model
from coda.knowledge.postgres import PASSAGES, PostgresIndex
from coda.llm import EmbeddingOptions, embed_query
from tests.support.client import post_turn
from tests.support.documents import QUESTIONS, write_corpus
from tests.support.embedding_model import EMBEDDING_DIMENSION, index_corpus, run_index_command
from tests.support.logs import captured
from tests.support.ollama_server import OllamaServer
from tests.support.postgres_server import PASSWORD
from tests.support.settings import make_settings

pytestmark = pytest.mark.integration


def run_command(folder: Path, out: str, ollama: OllamaServer, model: str) -> str:
    done = run_index_command(ollama, model, folder, out)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    return done.stderr


def test_the_command_indexes_into_postgres_and_the_questions_find_their_passages(
    ollama_server: OllamaServer, embedding_model: str, postgres_url: str, tmp_path: Path
) -> None:
    folder = write_corpus(tmp_path / "docs")
    first = run_command(folder, postgres_url, ollama_server, embedding_model)
    assert "[2/4] minutes.txt: embedded" in first
    assert "postgresql://coda:***@" in first
    (folder / "minutes.txt").write_text("The release moved to October.\n")
    (folder / "office.html").unlink()

    again = run_command(folder, postgres_url, ollama_server, embedding_model)

    assert "handbook.md: unchanged" in again
    assert "minutes.txt: embedded" in again
    assert "office.html: removed (no longer in the folder)" in again
    opened = PostgresIndex(postgres_url, timeout=10)
    model = build_embedding_model(
        make_settings(ollama_server.host, embedding_model=embedding_model)
    )
    try:
        assert opened.info.embedding_model == embedding_model
        assert opened.info.dimension == EMBEDDING_DIMENSION
        for question, expected in QUESTIONS:
            vector = embed_query(model, question, EmbeddingOptions())
            files = [hit.path for hit in opened.search(vector, top_k=3, min_score=-1)]
            if question.isascii():  # MiniLM is English: the Japanese ones held to the top three
                assert files[0] == expected, (question, files)
            else:
                assert expected in files, (question, files)
    finally:
        model.close()
        opened.close()


@pytest.fixture
def indexed(
    ollama_server: OllamaServer, embedding_model: str, postgres_url: str, tmp_path: Path
) -> str:
    """The test corpus indexed with MiniLM into the test's database: its URL."""
    index_corpus(ollama_server, embedding_model, tmp_path / "docs", postgres_url)
    return postgres_url


def test_a_question_through_chat_gets_its_passage_from_postgres(
    client: FlaskClient, tracing_ollama: OllamaServer
) -> None:
    *_, done = post_turn(client, "How long must a password be?", preset="documents")

    (prompt,) = tracing_ollama.prompts()
    assert "[1] security.md › Security policy › Passwords\nPasswords must be at least sixteen" in (
        prompt
    )
    ended = json.loads(done.data)
    assert ended["knowledge"] == "used"
    assert ended["sources"][0]["path"] == "security.md"


def test_when_postgres_fails_the_answer_goes_on_without_passages(
    client: FlaskClient, tracing_ollama: OllamaServer, indexed: str
) -> None:
    with psycopg.connect(indexed, autocommit=True) as admin:
        admin.execute(f"ALTER TABLE {PASSAGES} RENAME TO moved_away")

    with captured("coda.frontend.retrieval") as lines:
        *_, done = post_turn(client, "How long must a password be?", preset="documents")

    assert done.name == "done"
    assert json.loads(done.data)["knowledge"] == "failed"
    (prompt,) = tracing_ollama.prompts()
    assert "security.md" not in prompt
    (line,) = lines
    assert line.levelno == logging.WARNING
    assert line.error_kind == "unavailable"  # type: ignore[attr-defined]
    assert PASSWORD not in str(line.error_detail)  # type: ignore[attr-defined]
