"""Retrieval in the turn over the real Ollama: a corpus in Japanese and English made by the test,
indexed with the real MiniLM, questions asked through `/chat` with the knowledge preset, and the
prompt the model got read from Ollama's own trace log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.client import post_turn
from tests.support.embedding_model import index_corpus
from tests.support.html import attr, bubbles, one
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.integration


@pytest.fixture
def indexed(ollama_server: OllamaServer, embedding_model: str, tmp_path: Path) -> str:
    """The test corpus indexed with MiniLM in small passages (one topic each), into a file."""
    out = tmp_path / "knowledge.sqlite"
    index_corpus(ollama_server, embedding_model, tmp_path / "docs", out)
    return str(out)


def test_the_prompt_that_reaches_ollama_holds_the_passage_and_the_answer_lists_it(
    client: FlaskClient, tracing_ollama: OllamaServer
) -> None:
    *_, final, done = post_turn(client, "How long must a password be?", preset="documents")

    (prompt,) = tracing_ollama.prompts()
    assert "[1] security.md › Security policy › Passwords\nPasswords must be at least sixteen" in (
        prompt
    )
    system_end = prompt.index("[1] security.md")
    assert "社内文書に詳しい" in prompt[:system_end]  # the preset's system prompt, then the data
    assert (
        prompt.index("質問: How long must a password be?") > system_end
    )  # the page is in Japanese
    assert done.name == "done"
    (answer,) = bubbles(final.data, "assistant")
    first = answer.select(".message-sources li")[0]
    assert attr(first, "id") == f"{attr(answer, 'id')}-source-1"
    assert one(first, ".source-file").get_text() == "security.md"
    assert "Passwords" in one(first, ".source-place").get_text()
    assert "sixteen characters" in one(first, ".source-excerpt").get_text()
    ended = json.loads(done.data)
    assert ended["knowledge"] == "used"
    assert ended["sources"][0]["path"] == "security.md"


@pytest.mark.parametrize(
    ("question", "expected", "words"),
    [
        ("When is version two released?", "minutes.txt", "September"),
        ("有給休暇はいつもらえますか？", "handbook.md", "年次有給休暇"),
    ],
)
def test_questions_in_both_languages_get_the_passage_that_answers_them(
    client: FlaskClient, tracing_ollama: OllamaServer, question: str, expected: str, words: str
) -> None:
    *_, done = post_turn(client, question, preset="documents")

    (prompt,) = tracing_ollama.prompts()
    assert words in prompt
    assert expected in [source["path"] for source in json.loads(done.data)["sources"]]
