"""The index file without a server: written, searched best first above the threshold, and
refused at start when it was built with another embedding model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from coda.config import Settings, SettingsError
from coda.frontend import EXTENSION_KEY, Services
from coda.infrastructure.app import create_app
from coda.knowledge.index import IndexUnusable, KnowledgeIndex, SqliteWriter
from coda.knowledge.retriever import IndexKnowledgeBase
from tests.support.settings import WEB_SETTINGS
from tests.support.small_index import assert_small_search, write_small
from tests.support.stub_model import StubModel


def write(path: Path, model: str = "embed:1") -> Path:
    write_small(SqliteWriter(path), model)
    return path


def test_search_answers_best_first_above_the_threshold(tmp_path: Path) -> None:
    opened = KnowledgeIndex(write(tmp_path / "k.sqlite"))
    try:
        assert_small_search(opened)
    finally:
        opened.close()


def test_a_question_of_another_dimension_is_refused(tmp_path: Path) -> None:
    opened = KnowledgeIndex(write(tmp_path / "k.sqlite"))
    try:
        with pytest.raises(IndexUnusable, match="3 dimensions"):
            opened.search([1.0, 0.0, 0.0], top_k=1, min_score=0)
    finally:
        opened.close()


def test_a_missing_or_foreign_file_says_to_index(tmp_path: Path) -> None:
    with pytest.raises(IndexUnusable, match=r"coda\.knowledge index"):
        KnowledgeIndex(tmp_path / "none.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(IndexUnusable, match="re-index"):
        KnowledgeIndex(tmp_path / "junk.sqlite")


def settings_with(path: Path, model: str) -> Settings:
    return replace(WEB_SETTINGS, knowledge_index=str(path), embedding_model=model)


def test_start_refuses_an_index_of_another_embedding_model(tmp_path: Path) -> None:
    path = write(tmp_path / "k.sqlite", model="old-embedder:1")

    with pytest.raises(SettingsError, match="re-index") as caught:
        create_app(settings_with(path, "new-embedder:1"), chat_model=StubModel())

    assert "old-embedder:1" in str(caught.value)


def test_start_opens_an_index_of_the_configured_model(tmp_path: Path) -> None:
    path = write(tmp_path / "k.sqlite")

    app = create_app(settings_with(path, "embed:1"), chat_model=StubModel())

    opened = services_of(app).knowledge
    assert isinstance(opened, IndexKnowledgeBase)
    assert "documents" in [p.id for p in services_of(app).presets.items]
    opened.close()


def test_without_an_index_the_shipped_knowledge_preset_is_not_offered() -> None:
    app = create_app(WEB_SETTINGS, chat_model=StubModel())

    assert services_of(app).knowledge is None
    assert "documents" not in [p.id for p in services_of(app).presets.items]


def test_an_operators_knowledge_preset_without_an_index_stops_start_up(tmp_path: Path) -> None:
    presets = tmp_path / "presets.toml"
    presets.write_text(
        '[[presets]]\nid = "docs"\nname = { ja = "資料", en = "Docs" }\nknowledge = true\n'
    )

    with pytest.raises(SettingsError, match="needs CODA_KNOWLEDGE_INDEX"):
        Settings.from_env({"CODA_PRESETS_FILE": str(presets)})


def services_of(app: Flask) -> Services:
    found = app.extensions[EXTENSION_KEY]
    assert isinstance(found, Services)
    return found


def test_an_index_without_an_embedding_model_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="CODA_EMBEDDING_MODEL"):
        Settings.from_env({"CODA_KNOWLEDGE_INDEX": "/srv/k.sqlite"})
