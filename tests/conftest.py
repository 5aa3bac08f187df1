"""Fixtures shared by every layer: a real Ollama server with the real test model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ollama_server import (
    SECOND_TEST_MODEL,
    TEST_MODEL,
    TEST_MODELFILE,
    OllamaServer,
    ollama_binary,
    small_model_gguf,
)


@pytest.fixture(scope="session")
def ollama_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory of this session's own, holding the test model."""
    return tmp_path_factory.mktemp("ollama-models")


@pytest.fixture(scope="session")
def ollama_server(
    ollama_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OllamaServer]:
    """`ollama serve` on a free loopback port with the test model created; stopped at the end."""
    server = OllamaServer(
        binary=ollama_binary(),
        models_dir=ollama_models,
        log_path=tmp_path_factory.mktemp("ollama-log") / "serve.log",
    )
    server.start()
    try:
        server.create_model(small_model_gguf(), TEST_MODELFILE, TEST_MODEL)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def second_model(ollama_server: OllamaServer) -> str:
    """A second model on the session's server: the test model's GGUF under another name."""
    ollama_server.create_model(small_model_gguf(), TEST_MODELFILE, SECOND_TEST_MODEL)
    return SECOND_TEST_MODEL


@pytest.fixture
def spare_ollama(ollama_server: OllamaServer, tmp_path: Path) -> Iterator[OllamaServer]:
    """A second server over the same models, for tests that stop and restart it."""
    server = OllamaServer(
        binary=ollama_server.binary,
        models_dir=ollama_server.models_dir,
        log_path=tmp_path / "spare-serve.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
