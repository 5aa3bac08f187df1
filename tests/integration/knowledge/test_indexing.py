"""The operator's command and the index over a real Ollama embedding with MiniLM: a folder made
by the test indexed, re-indexed incrementally, and searched for the right passage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from coda.infrastructure.bootstrap import build_embedding_model
from coda.knowledge.index import KnowledgeIndex
from coda.knowledge.indexer import build_index
from coda.llm import CannotEmbedError, EmbeddingModel, EmbeddingOptions, embed_query
from tests.support.documents import QUESTIONS, write_corpus, write_pdf
from tests.support.embedding_model import EMBEDDING_DIMENSION, run_index_command
from tests.support.ollama_server import TEST_MODEL, OllamaServer
from tests.support.settings import make_settings

pytestmark = pytest.mark.integration


class Counting:
    """The real adapter, counting the texts it is asked to embed."""

    def __init__(self, model: EmbeddingModel) -> None:
        self.inner = model
        self.texts = 0

    @property
    def model(self) -> str:
        return self.inner.model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed(texts)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def embedder(ollama_server: OllamaServer, embedding_model: str) -> Iterator[Counting]:
    model = Counting(
        build_embedding_model(make_settings(ollama_server.host, embedding_model=embedding_model))
    )
    yield model
    model.close()


def test_the_command_indexes_a_folder_and_names_what_it_skips(
    ollama_server: OllamaServer, embedding_model: str, tmp_path: Path
) -> None:
    folder = write_corpus(tmp_path / "docs")
    write_pdf(folder / "manual.pdf", ["Reset the router by holding its button."])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    out = tmp_path / "knowledge.sqlite"

    done = run_index_command(
        ollama_server, embedding_model, folder, out, CODA_EMBEDDING_BATCH_SIZE="4"
    )

    assert done.returncode == 0, done.stderr
    assert "[1/6] broken.pdf: skipped" in done.stderr
    assert "skipped broken.pdf:" in done.stderr
    assert "embedded" in done.stderr  # progress, passage by passage
    opened = KnowledgeIndex(out)
    assert opened.info.embedding_model == embedding_model
    assert opened.info.dimension == EMBEDDING_DIMENSION
    assert len(opened) >= 6
    opened.close()


def test_a_rerun_embeds_only_what_changed(embedder: Counting, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    out = tmp_path / "k.sqlite"
    options = EmbeddingOptions()
    first = build_index(folder, out, embedder, options)
    embedded_first = embedder.texts

    again = build_index(folder, out, embedder, options)
    assert embedder.texts == embedded_first
    assert sorted(again.unchanged) == sorted(first.embedded)

    (folder / "minutes.txt").write_text("The release moved to October.\n")
    (folder / "office.html").unlink()
    lines: list[str] = []
    third = build_index(folder, out, embedder, options, report=lines.append)

    assert third.embedded == ["minutes.txt"]
    assert third.removed == ["office.html"]
    assert embedder.texts == embedded_first + 1
    assert "office.html: removed (no longer in the folder)" in lines


def test_another_passage_prefix_re_embeds_every_file(embedder: Counting, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    out = tmp_path / "k.sqlite"
    build_index(folder, out, embedder, EmbeddingOptions())
    lines: list[str] = []

    summary = build_index(
        folder, out, embedder, EmbeddingOptions(passage_prefix="passage: "), report=lines.append
    )

    assert len(summary.embedded) == 4
    assert "re-embedding every file" in lines[0]


def test_a_failed_run_leaves_the_index_as_it_was(
    embedder: Counting, ollama_server: OllamaServer, tmp_path: Path
) -> None:
    folder = write_corpus(tmp_path / "docs")
    out = tmp_path / "k.sqlite"
    build_index(folder, out, embedder, EmbeddingOptions())
    before = out.read_bytes()
    chat_only = build_embedding_model(make_settings(ollama_server.host, embedding_model=TEST_MODEL))

    try:
        with pytest.raises(CannotEmbedError):
            build_index(folder, out, chat_only, EmbeddingOptions())
    finally:
        chat_only.close()

    assert out.read_bytes() == before
    assert not (tmp_path / "k.sqlite.partial").exists()


def test_questions_find_the_passage_that_answers_them(embedder: Counting, tmp_path: Path) -> None:
    """Recall on the small corpus: each question's first passage comes from its file. MiniLM is
    an English model; the Japanese questions are held to the top three."""
    folder = write_corpus(tmp_path / "docs")
    out = tmp_path / "k.sqlite"
    build_index(folder, out, embedder, EmbeddingOptions(), passage_chars=120)
    opened = KnowledgeIndex(out)
    try:
        for question, expected in QUESTIONS:
            vector = embed_query(embedder, question, EmbeddingOptions())
            hits = opened.search(vector, top_k=3, min_score=-1)
            files = [hit.path for hit in hits]
            if question.isascii():
                assert files[0] == expected, (question, hits)
            else:
                assert expected in files, (question, hits)
        assert all(hit.score >= 0.99 for hit in opened.search(vector, top_k=1, min_score=0.99))
        assert opened.search(vector, top_k=3, min_score=1.01) == []
    finally:
        opened.close()
