"""Attached files over the real Ollama: a DOCX and a long Markdown file read by the real reader,
the long one embedded by the real MiniLM, a question's vector ranking its passages as the page
does, and the prompt the model got read from Ollama's own trace log."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import numpy as np
import pytest
from docx import Document
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from coda.frontend import EXTENSION_KEY
from tests.support.client import post_turn
from tests.support.factories import AppFactory
from tests.support.ollama_server import OllamaServer
from tests.support.sse import Event

pytestmark = pytest.mark.integration

# One topic per section, in English: MiniLM has no Japanese (docs/knowledge.md).
TOPICS = {
    "Parking": "Visitors park on level B2 of the north garage and show the badge at the gate.",
    "Expenses": "Taxi receipts above fifty dollars need a manager's signature within a week.",
    "Security": "Passwords must be at least sixteen characters and are changed every year.",
    "Holidays": "New employees receive ten days of paid leave after six months of work.",
    "Release": "Version two of the billing service ships on the third of September.",
}


def long_markdown() -> bytes:
    """A handbook longer than the small context below allows whole: each topic, then filler."""
    filler = "This paragraph repeats general remarks about the office and its kitchen. " * 8
    parts = ["# Handbook"]
    for title, text in TOPICS.items():
        parts += [f"## {title}", text, filler, filler]
    return "\n\n".join(parts).encode()


def minutes_docx() -> bytes:
    document = Document()
    document.add_heading("定例会議 議事録", level=1)
    document.add_heading("決定事項", level=2)
    document.add_paragraph("請求サービスの第二版は九月三日に公開する。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture
def client(
    tracing_ollama: OllamaServer, embedding_model: str, make_app: AppFactory
) -> Iterator[FlaskClient]:
    app = make_app(
        tracing_ollama.host,
        embedding_model=embedding_model,
        context_length=2048,  # so the handbook is long: it is read in passages
        max_tokens=16,  # the answer's wording is not the point: a base model's few tokens
        max_body_bytes=1 << 20,
        knowledge_timeout_seconds=60.0,  # the first question loads MiniLM on this busy machine
    )
    try:
        with app.test_client() as client:
            yield client
    finally:
        embedding = app.extensions[EXTENSION_KEY].embedding
        embedding.model.close()
        embedding.query_model.close()


def attach(client: FlaskClient, name: str, data: bytes) -> dict[str, object]:
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), name)})
    response = client.post(
        "/attachments", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    read: dict[str, object] = response.get_json()
    return read


def nearest(client: FlaskClient, read: dict[str, object], question: str) -> list[object]:
    """The page's ranking (coda-attach.js): the question's vector against the file's."""
    answer = client.post("/attachments/question", data={"question": question}).get_json()
    query = np.frombuffer(base64.b64decode(answer["vector"]), dtype="<f4")
    dimension = int(str(read["dimension"]))
    matrix = np.frombuffer(base64.b64decode(str(read["vectors"])), dtype="<f4").reshape(
        -1, dimension
    )
    order = np.argsort(-(matrix @ query))[:3]
    passages = read["passages"]
    assert isinstance(passages, list)
    return [passages[i] for i in order]


def ask(client: FlaskClient, question: str, attachments: list[object]) -> list[Event]:
    return post_turn(client, question, attachments=json.dumps(attachments))


def test_a_docx_goes_to_the_model_whole_as_data(
    client: FlaskClient, tracing_ollama: OllamaServer
) -> None:
    read = attach(client, "議事録.docx", minutes_docx())
    assert read["mode"] == "whole"
    assert read["kind"] == "docx"

    *_, done = ask(client, "いつ公開しますか？", [{"name": "議事録.docx", "text": read["text"]}])

    (prompt,) = tracing_ollama.prompts()
    assert (
        "議事録.docx\n## 定例会議 議事録 › 決定事項\n\n請求サービスの第二版は九月三日に公開する。"
        in (prompt)
    )
    assert prompt.index("九月三日") < prompt.index("質問: いつ公開しますか？")
    assert json.loads(done.data)["files"] == ["議事録.docx"]


QUESTIONS = {
    "Where do visitors park their car?": "Parking",
    "How long must a password be?": "Security",
    "When does version two of billing ship?": "Release",
}


def test_a_long_files_passage_that_answers_is_found_sent_and_listed(
    client: FlaskClient, tracing_ollama: OllamaServer
) -> None:
    read = attach(client, "handbook.md", long_markdown())
    assert read["mode"] == "passages"
    assert read["dimension"] == 384

    for question, topic in QUESTIONS.items():  # the page's ranking finds the right section
        assert TOPICS[topic] in str(nearest(client, read, question)[0])
    question = "How long must a password be?"
    picked = nearest(client, read, question)
    *_, done = ask(client, question, [{"name": "handbook.md", "passages": picked, "total": 99}])

    (prompt,) = tracing_ollama.prompts()
    assert f"[1] handbook.md › Handbook › Security\n{TOPICS['Security']}" in prompt
    ended = json.loads(done.data)
    assert ended["partial"] == ["handbook.md"]
    assert ended["sources"][0]["heading"] == "Handbook › Security"
