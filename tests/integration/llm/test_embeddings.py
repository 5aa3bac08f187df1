"""Both embedding adapters against a real `ollama serve` with a real embedding model (MiniLM):
Ollama's own `/api/embed`, and the `/v1/embeddings` it serves as an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from coda.infrastructure.bootstrap import build_embedding_model, embedding_options
from coda.llm import (
    CannotEmbedError,
    EmbeddingModel,
    EmbeddingOptions,
    ModelNotFoundError,
    UnavailableError,
    embed_passages,
    embed_query,
)
from tests.support.embedding_model import EMBEDDING_DIMENSION
from tests.support.ollama_server import TEST_MODEL, OllamaServer, free_port
from tests.support.settings import make_settings

pytestmark = pytest.mark.integration

Build = Callable[..., EmbeddingModel]


@pytest.fixture(params=["ollama", "openai"])
def embedder(request: pytest.FixtureRequest) -> Iterator[Build]:
    """The embedding adapter of each provider, built as the app builds it; closed after."""
    built: list[EmbeddingModel] = []

    def build(host: str, model: str, **overrides: Any) -> EmbeddingModel:
        settings = make_settings(host, provider=request.param, embedding_model=model, **overrides)
        built.append(build_embedding_model(settings))
        return built[-1]

    yield build
    for model in built:
        model.close()


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_passages_come_back_in_order_unit_length_and_batched(
    embedder: Build, ollama_server: OllamaServer, embedding_model: str
) -> None:
    model = embedder(ollama_server.host, embedding_model)
    texts = [f"Passage {n} is about the number {n}." for n in range(7)]
    progress: list[int] = []

    vectors = embed_passages(model, texts, EmbeddingOptions(batch_size=3), on_batch=progress.append)

    assert progress == [3, 6, 7]
    assert [len(v) for v in vectors] == [EMBEDDING_DIMENSION] * 7
    assert all(abs(dot(v, v) - 1) < 1e-4 for v in vectors)
    # The same text in another batch gets the same vector: order is kept across batches.
    again = embed_passages(model, texts[4:5], EmbeddingOptions())
    assert dot(vectors[4], again[0]) > 0.999


def test_a_question_is_nearer_its_passage_than_another(
    embedder: Build, ollama_server: OllamaServer, embedding_model: str
) -> None:
    model = embedder(ollama_server.host, embedding_model)
    cats, trains = embed_passages(
        model,
        ["Cats sleep for most of the day and purr.", "The express train leaves the station."],
        EmbeddingOptions(),
    )

    question = embed_query(model, "How long do cats sleep?", EmbeddingOptions())

    assert dot(question, cats) > dot(question, trains)


def test_the_prefixes_reach_the_model(
    embedder: Build, ollama_server: OllamaServer, embedding_model: str
) -> None:
    model = embedder(
        ollama_server.host,
        embedding_model,
        embedding_query_prefix="query:",
        embedding_passage_prefix="passage:",
    )
    options = embedding_options(make_settings("", embedding_query_prefix="query:"))
    assert options.query_prefix == "query: "
    plain = embed_query(model, "cats", EmbeddingOptions())
    prefixed = embed_query(model, "cats", options)

    assert dot(plain, prefixed) < 0.999  # the model saw other text


def test_a_chat_model_asked_to_embed_says_it_cannot(
    embedder: Build, ollama_server: OllamaServer
) -> None:
    model = embedder(ollama_server.host, TEST_MODEL)

    with pytest.raises(CannotEmbedError) as caught:
        model.embed(["hello"])

    assert caught.value.params == {"model": TEST_MODEL}
    assert caught.value.attempts == 1  # never retried


def test_a_missing_embedding_model_is_named(embedder: Build, ollama_server: OllamaServer) -> None:
    model = embedder(ollama_server.host, "no-such-embedder:1")

    with pytest.raises(ModelNotFoundError):
        model.embed(["hello"])


def test_an_unreachable_server_is_retried_then_unavailable(embedder: Build) -> None:
    model = embedder(f"http://127.0.0.1:{free_port()}", "any:1", retry_max_seconds=1.0)

    with pytest.raises(UnavailableError) as caught:
        model.embed(["hello"])

    assert caught.value.attempts > 1
