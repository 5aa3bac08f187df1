"""Conversations kept in the browser, as a person uses them: the list, search, rename, delete and
undo, two tabs at once, export and import, a full store, an answer cut by a closed tab."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.chat_page import (
    ANSWER_MS,
    answered,
    answers,
    ask,
    conversation_items,
    idle,
    open_chat,
    questions,
    stored,
)
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]


def new_chat(page: Page) -> None:
    page.locator("#new-chat").click()
    expect(page.locator("#messages .message")).to_have_count(0)


def test_several_conversations_survive_a_reload_and_are_searchable(
    live_app: LiveApp, page: Page, screenshots: Path
) -> None:
    page.goto(live_app.url)
    ask(page, "富士山の高さは？")
    answered(page)
    ask(page, "では、アルパカについても教えて。")
    answered(page, 1)
    new_chat(page)
    ask(page, "東京の人口は？")
    answered(page)
    new_chat(page)
    ask(page, "What is a haiku?")
    answered(page)
    idle(page)

    page.reload()

    items = conversation_items(page)
    expect(items).to_have_count(3)
    expect(items.locator(".conversation-open")).to_have_text(
        ["What is a haiku?", "東京の人口は？", "富士山の高さは？"]
    )
    expect(items.locator('[aria-current="true"]')).to_have_text("What is a haiku?")
    expect(questions(page)).to_have_text(["What is a haiku?"])
    page.screenshot(path=screenshots / "conversations-ja.png", full_page=True)

    page.locator("#search").fill("アルパカ")  # in the second question, not in any title
    expect(items).to_have_count(1)
    items.locator(".conversation-open").click()
    expect(questions(page)).to_have_text(["富士山の高さは？", "では、アルパカについても教えて。"])
    expect(answers(page).locator(".message-meta")).to_have_count(2)
    page.locator("#search").fill("no such words anywhere")
    expect(items).to_have_count(0)
    expect(page.locator("#conversation-empty")).to_be_visible()

    page.locator('[data-lang="en"]').first.click()
    page.locator("#search").fill("")
    expect(conversation_items(page)).to_have_count(3)
    page.screenshot(path=screenshots / "conversations-en.png", full_page=True)


def test_rename_delete_and_undo(live_app: LiveApp, page: Page) -> None:
    page.goto(live_app.url)
    ask(page, "一つ目の会話")
    answered(page)
    new_chat(page)
    ask(page, "二つ目の会話")
    answered(page)
    idle(page)
    items = conversation_items(page)
    first = items.filter(has_text="一つ目の会話")

    first.locator(".conversation-rename").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("旅行の計画")
    page.keyboard.press("Enter")
    expect(items.locator(".conversation-open")).to_have_text(["二つ目の会話", "旅行の計画"])

    page.reload()
    expect(items.locator(".conversation-open")).to_have_text(["二つ目の会話", "旅行の計画"])
    items.filter(has_text="旅行の計画").locator(".conversation-delete").click()
    expect(items).to_have_count(1)
    expect(page.locator("#toast")).to_contain_text("「旅行の計画」を削除しました")
    expect(page.locator("#undo")).to_be_focused()

    page.locator("#undo").click()
    expect(items.locator(".conversation-open")).to_have_text(["二つ目の会話", "旅行の計画"])
    items.filter(has_text="旅行の計画").locator(".conversation-open").click()
    expect(questions(page)).to_have_text(["一つ目の会話"])

    items.filter(has_text="旅行の計画").locator(".conversation-delete").click()
    expect(page.locator("#messages .message")).to_have_count(0)  # it was open: a new chat
    page.reload()
    expect(items.locator(".conversation-open")).to_have_text(["二つ目の会話"])
    assert [r["turns"][0]["content"] for r in stored(page)] == ["二つ目の会話"]


def test_two_tabs_chatting_at_once_never_overwrite_each_other(
    live_app: LiveApp, browser: Browser
) -> None:
    context = browser.new_context(locale="ja-JP")
    left, right = context.new_page(), context.new_page()
    try:
        for tab in (left, right):
            tab.goto(live_app.url)
        ask(left, "左のタブの質問")
        ask(right, "右のタブの質問")
        for tab in (left, right):
            answered(tab)
            idle(tab)
        ask(left, "左のタブの二つ目")
        answered(left, 1)
        idle(left)

        right.reload()

        kept = {r["turns"][0]["content"]: len(r["turns"]) for r in stored(right)}
        assert kept == {"左のタブの質問": 4, "右のタブの質問": 2}
        expect(questions(right)).to_have_text(["右のタブの質問"])
        expect(conversation_items(right)).to_have_count(2)
        # The other tab heard of the change and lists it without a reload.
        expect(conversation_items(left)).to_have_count(2)
    finally:
        context.close()


def test_export_then_import_gives_the_same_conversation(
    live_app: LiveApp, page: Page, tmp_path: Path
) -> None:
    page.goto(live_app.url)
    ask(page, "<b>太字</b> と `code` を含む質問")
    answered(page)
    ask(page, "続けて")
    answered(page, 1)
    idle(page)
    before = page.locator("#messages").inner_html()
    shown = [a.inner_text() for a in page.locator("#messages .message").all()]

    with page.expect_download() as exported:
        page.locator("#export-json").click()
    saved = tmp_path / "conversation.json"
    exported.value.save_as(saved)
    with page.expect_download() as markdown:
        page.locator("#export-markdown").click()
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert "## あなた\n\n<b>太字</b> と `code` を含む質問" in text
    assert "## アシスタント" in text
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["format"] == "coda.conversation"
    assert [t["role"] for t in data["turns"]] == ["user", "assistant", "user", "assistant"]

    conversation_items(page).first.locator(".conversation-delete").click()
    expect(conversation_items(page)).to_have_count(0)
    page.set_input_files("#import-file", saved)

    expect(page.locator("#import-status")).to_contain_text("読み込みました")
    expect(conversation_items(page)).to_have_count(1)
    expect(page.locator("#messages .message")).to_have_count(4)
    assert [a.inner_text() for a in page.locator("#messages .message").all()] == shown
    assert "message-meta" in before
    (record,) = stored(page)
    assert [(t["role"], t["content"], t.get("usage")) for t in record["turns"]] == [
        (t["role"], t["content"], t.get("usage")) for t in data["turns"]
    ]

    not_json = tmp_path / "notes.json"
    not_json.write_text('{"title": "my notes", "items": []}', encoding="utf-8")
    page.set_input_files("#import-file", not_json)
    expect(page.locator("#import-status .message-error")).to_contain_text("coda の会話ではない")
    expect(conversation_items(page)).to_have_count(1)


def test_a_full_store_says_so_and_the_chat_goes_on(live_app: LiveApp, page: Page) -> None:
    open_chat(page, live_app.url)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": live_app.url, "quotaSize": 1})

    ask(page, QUESTION_FOR_STORAGE)

    status = page.locator("#storage-status")
    expect(status).to_be_visible(timeout=ANSWER_MS)
    expect(status).to_contain_text("保存領域がいっぱい")
    answered(page)
    expect(questions(page)).to_have_text([QUESTION_FOR_STORAGE])
    assert stored(page) == []


QUESTION_FOR_STORAGE = "保存できるかな？"


def test_an_answer_cut_by_a_closed_tab_keeps_its_text_marked_interrupted(
    ollama_server: OllamaServer, app_factory: AppFactory, browser: Browser
) -> None:
    app = app_factory(ollama_server.host, CODA_MAX_TOKENS="2000", CODA_TEMPERATURE="0.8")
    context = browser.new_context(locale="ja-JP")
    try:
        page = context.new_page()
        page.goto(app.url)
        ask(page, "1から1000まで、数字を一行ずつ書いてください。")
        body = answers(page).last.locator(".message-body")
        expect(body).not_to_be_empty(timeout=ANSWER_MS)
        page.wait_for_timeout(2500)  # the partial answer is saved every second
        partial = body.inner_text()
        page.close()

        again = context.new_page()
        again.goto(app.url)

        bubble = answers(again).last
        expect(bubble).to_have_attribute("data-state", "interrupted")
        expect(bubble.locator(".message-status")).to_contain_text("ページが閉じられた")
        kept = bubble.locator(".message-body").inner_text()
        assert kept.strip()
        assert partial.strip().startswith(kept.strip()[:20])
        expect(again.locator("#regenerate")).to_be_visible()
    finally:
        context.close()


def test_back_then_forward_mid_answer_keeps_the_question_and_the_partial_answer(
    ollama_server: OllamaServer, app_factory: AppFactory, page: Page
) -> None:
    app = app_factory(ollama_server.host, CODA_MAX_TOKENS="2000", CODA_TEMPERATURE="0.8")
    page.goto(f"{app.url}/healthz")
    page.goto(app.url)
    ask(page, "1から1000まで、数字を一行ずつ書いてください。")
    expect(answers(page).last.locator(".message-body")).not_to_be_empty(timeout=ANSWER_MS)
    page.wait_for_timeout(1500)

    page.go_back()
    page.go_forward()

    expect(questions(page)).to_have_text(["1から1000まで、数字を一行ずつ書いてください。"])
    bubble = answers(page).last
    expect(bubble.locator(".message-body")).not_to_be_empty()
    expect(bubble).not_to_have_attribute("data-state", "streaming")


def test_an_error_bubble_survives_a_reload(
    spare_ollama: OllamaServer, app_factory: AppFactory, page: Page
) -> None:
    app = app_factory(spare_ollama.host, CODA_RETRY_ATTEMPTS="1")
    page.goto(app.url)
    spare_ollama.stop()
    ask(page, "届かない質問")
    error = answered(page, state="error").locator(".message-error").inner_text()
    idle(page)

    page.reload()

    bubble = answered(page, state="error")
    expect(bubble.locator(".message-error")).to_have_text(error)
    expect(questions(page)).to_have_text(["届かない質問"])


def test_a_conversation_from_an_earlier_version_is_migrated_once_and_kept(
    live_app: LiveApp, page: Page
) -> None:
    old = [
        {"role": "user", "content": "前のバージョンの質問", "state": "done"},
        {"role": "assistant", "content": "前のバージョンの答え", "state": "done"},
    ]
    page.goto(f"{live_app.url}/healthz")  # the origin, before the page ever opened its store
    page.evaluate("(old) => localStorage.setItem('coda.conversation.v1', old)", json.dumps(old))

    page.goto(live_app.url)

    expect(questions(page)).to_have_text(["前のバージョンの質問"])
    expect(answers(page).locator(".message-body")).to_have_text(["前のバージョンの答え"])
    page.reload()
    assert len(stored(page)) == 1  # once: a reload does not migrate it again
    assert page.evaluate("localStorage.getItem('coda.conversation.v1')") == json.dumps(old)


def test_hundreds_of_conversations_are_listed_and_found(live_app: LiveApp, page: Page) -> None:
    open_chat(page, live_app.url)
    page.evaluate(
        """async () => {
             for (let i = 0; i < 400; i++) {
               const turns = [
                 {id: `q${i}`, role: 'user', content: `会話 ${i} の質問`, state: 'done'},
                 {id: `a${i}`, role: 'assistant', content: `答え ${i} `.repeat(200), state: 'done'},
               ];
               await window.coda.store.put(
                 {id: `c${i}`, title: '', created: i, updated: i, turns, settings: {}});
             }
           }"""
    )

    page.reload()

    expect(conversation_items(page)).to_have_count(400)
    expect(conversation_items(page).first.locator(".conversation-open")).to_have_text(
        "会話 399 の質問"
    )  # newest first
    page.locator("#search").fill("答え 123")
    expect(conversation_items(page)).to_have_count(1)
    conversation_items(page).locator(".conversation-open").click()
    expect(questions(page)).to_have_text(["会話 123 の質問"])
