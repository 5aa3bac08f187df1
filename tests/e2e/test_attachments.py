"""Attaching files in a real browser: a DOCX (sent whole) and a PDF (long: read in passages,
embedded by the real MiniLM) attached with the 📎 button to coda under gunicorn, kept by the
browser across a reload, then a summary and a detail asked; the prompts Ollama got read from its
trace log, the sources shown under the answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from docx import Document
from playwright.sync_api import Page, expect

from tests.support.chat_page import (
    answered,
    answers,
    ask,
    idle,
    open_chat,
    record_posts,
    stored,
)
from tests.support.documents import write_pdf
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]
DECISION = "請求サービスの第二版は九月三日に公開する。"
# One topic a page, in English (MiniLM has no Japanese), each page long enough that the PDF
# does not fit the small context whole.
PAGES = [
    "Visitors park on level B2 of the north garage and show the badge at the gate. " * 6,
    "Taxi receipts above fifty dollars need a manager signature within a week. " * 6,
    "Passwords must be at least sixteen characters and are changed every year. " * 6,
    "New employees receive ten days of paid leave after six months of work. " * 6,
]


def minutes(path: Path) -> Path:
    document = Document()
    document.add_heading("定例会議 議事録", level=1)
    document.add_heading("決定事項", level=2)
    document.add_paragraph(DECISION)
    document.save(str(path))
    return path


def test_attached_files_survive_a_reload_and_answer_a_summary_and_a_detail(
    tracing_ollama: OllamaServer,
    embedding_model: str,
    app_factory: AppFactory,
    page: Page,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    app = app_factory(
        tracing_ollama.host,
        CODA_EMBEDDING_MODEL=embedding_model,
        CODA_CONTEXT_LENGTH="2048",  # small: the PDF is read in passages, the DOCX fits whole
        CODA_MAX_TOKENS="32",
        CODA_KNOWLEDGE_TIMEOUT_SECONDS="60",  # MiniLM loads on the first question
    )
    open_chat(page, app.url)
    chips = page.locator("#attachment-list .attachment")

    page.set_input_files("#attach-file", str(minutes(tmp_path / "議事録.docx")))
    expect(chips).to_have_count(1, timeout=60_000)
    page.set_input_files("#attach-file", str(write_pdf(tmp_path / "handbook.pdf", PAGES)))
    expect(chips).to_have_count(2, timeout=120_000)
    expect(chips.nth(0).locator(".attachment-name")).to_have_text("議事録.docx")
    expect(chips.nth(0)).to_have_attribute("data-mode", "whole")
    expect(chips.nth(1).locator(".attachment-name")).to_have_text("handbook.pdf")
    expect(chips.nth(1)).to_have_attribute("data-mode", "passages")
    expect(page.locator("#attachment-status")).to_be_hidden()
    page.screenshot(path=screenshots / "attachments-attached.png")

    page.reload()  # kept by the browser, not the server
    expect(chips).to_have_count(2)
    posts = record_posts(page)

    ask(page, "議事録を要約してください。")
    expect(answers(page)).to_have_count(1)  # the post goes once the question is embedded
    answered(page)
    idle(page)
    summary_prompt = tracing_ollama.prompts()[-1]
    assert DECISION in summary_prompt  # the DOCX whole, as data in the user's turn
    assert summary_prompt.index(DECISION) < summary_prompt.index("質問: 議事録を要約してください。")

    ask(page, "How long must a password be?")
    expect(answers(page)).to_have_count(2)
    answer = answered(page)
    idle(page)
    detail_prompt = tracing_ollama.prompts()[-1]
    assert "handbook.pdf › p. 3\nPasswords must be at least sixteen characters" in detail_prompt
    assert DECISION in detail_prompt  # the whole file goes with every question
    sources = answer.locator(".message-sources li")
    expect(sources.first.locator(".source-file")).to_have_text("handbook.pdf")
    expect(sources.first.locator(".source-place")).to_contain_text("3 ページ")
    expect(answer.locator(".message-partial")).to_contain_text("handbook.pdf")
    assert len(posts) == 2
    for post in posts:  # each question carries the files, never their vectors
        assert "議事録.docx" in post["attachments"][0]
        assert "vectors" not in post["attachments"][0]
    saved = stored(page)[0]["turns"][-1]
    assert saved["partial"] == ["handbook.pdf"]
    answer.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "attachments-detail-ja.png")

    page.reload()  # the answer keeps its sources and its note
    restored = answered(page)
    expect(restored.locator(".message-partial")).to_contain_text("handbook.pdf")
    expect(restored.locator(".message-sources li").first.locator(".source-file")).to_have_text(
        "handbook.pdf"
    )

    # Removing a file: gone from the page and from this browser's storage.
    chips.nth(0).locator(".attachment-remove").click()
    expect(chips).to_have_count(1)
    kept = page.evaluate("async () => (await window.coda.store.attachmentSizes()).length")
    assert kept == 1
