"""The app over the session's Ollama with a knowledge base, for the retrieval tests of either
store: each test module provides `indexed`, the index's location (a file or a URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from coda.frontend import EXTENSION_KEY
from coda.knowledge.retriever import IndexKnowledgeBase
from tests.support.factories import AppFactory
from tests.support.ollama_server import OllamaServer


@pytest.fixture
def client(
    tracing_ollama: OllamaServer, embedding_model: str, indexed: str, make_app: AppFactory
) -> Iterator[FlaskClient]:
    app = make_app(
        tracing_ollama.host,
        knowledge_index=indexed,
        embedding_model=embedding_model,
        # MiniLM is an English model: every Japanese passage scores 0.45-0.7 against any
        # Japanese question, so the right one is only held to the top three (as in
        # test_indexing); the default score (0.3) is kept.
        knowledge_top_k=3,
        # The first question loads MiniLM on this busy machine.
        knowledge_timeout_seconds=60.0,
    )
    knowledge = app.extensions[EXTENSION_KEY].knowledge
    assert isinstance(knowledge, IndexKnowledgeBase)
    try:
        with app.test_client() as client:
            yield client
    finally:
        knowledge.close()  # its embedding client's connections, as a worker's exit would
