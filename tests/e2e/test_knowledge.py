"""Asking the team's documents in a real browser: an index of a small corpus built with the real
MiniLM, coda under gunicorn opening it, the documents preset chosen, the sources listed under the
answer and listed again after a reload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from coda.infrastructure.bootstrap import build_embedding_model
from coda.knowledge.indexer import build_index
from coda.llm import EmbeddingOptions
from tests.support.chat_page import answered, ask, idle, open_chat, stored
from tests.support.documents import write_corpus
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer
from tests.support.settings import make_settings

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]


def index_corpus(server: OllamaServer, embedding_model: str, folder: Path) -> Path:
    model = build_embedding_model(make_settings(server.host, embedding_model=embedding_model))
    out = folder / "knowledge.sqlite"
    try:
        build_index(
            write_corpus(folder / "docs"), out, model, EmbeddingOptions(), passage_chars=120
        )
    finally:
        model.close()
    return out


def test_an_answer_lists_the_passages_it_was_given_and_a_reload_keeps_them(
    ollama_server: OllamaServer,
    embedding_model: str,
    app_factory: AppFactory,
    page: Page,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    app = app_factory(
        ollama_server.host,
        CODA_KNOWLEDGE_INDEX=str(index_corpus(ollama_server, embedding_model, tmp_path)),
        CODA_EMBEDDING_MODEL=embedding_model,
        CODA_KNOWLEDGE_TIMEOUT_SECONDS="60",  # MiniLM loads on the first question
    )
    open_chat(page, app.url)
    page.locator("#preset").select_option("documents")

    ask(page, "How long must a password be?")

    answer = answered(page)
    idle(page)
    sources = answer.locator(".message-sources li")
    expect(sources.first.locator(".source-file")).to_have_text("security.md")
    expect(sources.first.locator(".source-place")).to_contain_text("Passwords")
    expect(sources.first.locator(".source-excerpt")).to_contain_text("sixteen characters")
    expect(answer.locator(".message-sources-title")).to_have_text("ナレッジベースで見つかった資料")
    bubble_id = answer.get_attribute("id")
    expect(sources.first).to_have_attribute("id", f"{bubble_id}-source-1")
    saved = stored(page)[0]["turns"][-1]
    assert saved["knowledge"] == "used"
    assert saved["sources"][0]["path"] == "security.md"
    answer.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "knowledge-sources-ja.png")

    page.reload()
    restored = answered(page)
    expect(restored.locator(".message-sources li").first.locator(".source-file")).to_have_text(
        "security.md"
    )
    restored_id = restored.get_attribute("id")
    assert restored_id
    expect(restored.locator(".message-sources li").first).to_have_attribute(
        "id", f"{restored_id}-source-1"
    )

    # An answer citing its passage (the test model seldom does): its [1] leads to the passage.
    page.evaluate(
        """async () => {
             const [record] = await window.coda.store.all();
             await window.coda.store.update(record.id, (saved) => ({
               ...saved,
               turns: saved.turns.map((turn) => turn.role === "assistant"
                 ? { ...turn, content: "十六文字以上です [1]。[7] はありません。" } : turn),
             }));
           }"""
    )
    page.reload()
    cited = answered(page)
    links = cited.locator(".message-body a.citation")
    expect(links).to_have_count(1)
    links.first.click()
    cited_id = cited.get_attribute("id")
    assert page.evaluate("() => location.hash") == f"#{cited_id}-source-1"
    expect(page.locator(f"#{cited_id}-source-1")).to_be_in_viewport()
    page.screenshot(path=screenshots / "knowledge-citation-ja.png")
