"""Embeddings without a server: what each failure means, and what a malformed answer is."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import pytest

from coda.llm import (
    BusyError,
    CannotEmbedError,
    EmbeddingOptions,
    RejectedError,
    ServerConfig,
    embed_passages,
)
from coda.llm.openai_embed import OpenAIEmbeddingModel
from coda.llm.server_errors import embedding_error_for_status

SERVER = ServerConfig(
    url="http://server.test/v1",
    model="embed:1",
    connect_timeout=1,
    first_token_timeout=1,
    total_timeout=1,
    retry_attempts=1,
    retry_max_seconds=0,
    max_connections=1,
)


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (501, "this model does not support embeddings"),  # Ollama, its runner's words
        (501, "This server does not support embeddings. Start it with `--embeddings`"),
        (400, "The model does not support Embeddings API"),  # vLLM
    ],
)
def test_a_model_that_makes_no_embeddings_is_named_so(status: int, said: str) -> None:
    error = embedding_error_for_status(status, f"server {status}: {said}", model="chat:1")

    assert isinstance(error, CannotEmbedError)
    assert error.params == {"model": "chat:1"}


def test_other_failures_mean_what_they_mean_for_chat() -> None:
    assert isinstance(embedding_error_for_status(503, "busy", model="m"), BusyError)
    assert isinstance(embedding_error_for_status(400, "bad input", model="m"), RejectedError)


class CountingModel:
    """A fake port: vectors whose first value says which text they belong to."""

    model = "fake:1"

    def __init__(self, drop: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.drop = drop

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts][self.drop :]

    def close(self) -> None:
        pass


def test_passages_get_their_prefix_and_go_in_batches() -> None:
    model = CountingModel()

    vectors = embed_passages(
        model, ["a", "bb", "ccc"], EmbeddingOptions(passage_prefix="p: ", batch_size=2)
    )

    assert model.batches == [["p: a", "p: bb"], ["p: ccc"]]
    assert len(vectors) == 3
    assert all(abs(sum(x * x for x in v) - 1) < 1e-9 for v in vectors)


def test_an_answer_missing_a_vector_is_refused() -> None:
    with pytest.raises(RejectedError):
        embed_passages(CountingModel(drop=1), ["a", "b"], EmbeddingOptions())


def test_openai_vectors_are_put_in_the_order_of_their_index() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert sent["encoding_format"] == "float"
        data = [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 0.0]}]
        return httpx.Response(200, json={"data": data})

    model = OpenAIEmbeddingModel(SERVER, transport=httpx.MockTransport(answer))
    try:
        assert model.embed(["first", "second"]) == [[3.0, 0.0], [0.0, 2.0]]
    finally:
        model.close()
