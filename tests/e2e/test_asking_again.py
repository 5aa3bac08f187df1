"""Asking again in a real browser: regenerate and edit replace the right answer, continue extends
a cut one, the conversation says once how many turns the model no longer sees; the keyboard and
a phone-sized screen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.chat_page import (
    answered,
    answers,
    ask,
    idle,
    questions,
    record_posts,
    stored,
)
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]


def two_turns(page: Page) -> list[str]:
    """Ask two questions; the texts of both answers."""
    ask(page, "一つ目の質問です。")
    answered(page, 0)
    ask(page, "二つ目の質問です。")
    answered(page, 1)
    idle(page)
    return [b.inner_text() for b in answers(page).locator(".message-body").all()]


def turn_ids(page: Page) -> list[str]:
    (record,) = stored(page)
    return [turn["id"] for turn in record["turns"]]


def test_regenerate_replaces_the_last_answer_and_nothing_else(
    live_app: LiveApp, page: Page
) -> None:
    posts = record_posts(page)
    page.goto(live_app.url)
    before = two_turns(page)
    ids = turn_ids(page)

    page.locator("#regenerate").click()

    answered(page, 1)
    idle(page)
    expect(answers(page)).to_have_count(2)
    expect(questions(page)).to_have_text(["一つ目の質問です。", "二つ目の質問です。"])
    assert answers(page).nth(0).locator(".message-body").inner_text() == before[0]
    after = turn_ids(page)
    assert after[:2] == ids[:2]  # the first question and answer are the same turns
    assert set(after[2:]).isdisjoint(ids[2:])  # the last pair is a new one
    assert posts[-1]["mode"] == ["regenerate"]
    assert posts[-1]["history"][0].endswith('"二つ目の質問です。"}]')
    page.reload()
    expect(answers(page)).to_have_count(2)
    expect(answers(page).nth(1).locator(".message-meta")).to_be_visible()


def test_editing_the_last_question_replaces_it_and_its_answer(
    live_app: LiveApp, page: Page
) -> None:
    page.goto(live_app.url)
    before = two_turns(page)

    page.locator("#edit-last").click()
    expect(page.locator("#message")).to_have_value("二つ目の質問です。")
    expect(page.locator("#editing")).to_be_visible()
    page.locator("#message").fill("書き直した二つ目の質問です。")
    page.locator("#message").press("Enter")

    answered(page, 1)
    idle(page)
    expect(questions(page)).to_have_text(["一つ目の質問です。", "書き直した二つ目の質問です。"])
    expect(answers(page)).to_have_count(2)
    assert answers(page).nth(0).locator(".message-body").inner_text() == before[0]
    expect(page.locator("#editing")).to_be_hidden()
    (record,) = stored(page)
    assert [t["content"] for t in record["turns"] if t["role"] == "user"] == [
        "一つ目の質問です。",
        "書き直した二つ目の質問です。",
    ]

    page.locator("#edit-last").click()
    page.keyboard.press("Escape")  # cancels the edit
    expect(page.locator("#editing")).to_be_hidden()
    expect(page.locator("#message")).to_have_value("")


def test_continue_extends_an_answer_cut_at_the_length_limit(live_app: LiveApp, page: Page) -> None:
    posts = record_posts(page)
    page.goto(live_app.url)
    ask(page, "日本の歴史について、できるだけ詳しく長く説明してください。")
    bubble = answered(page)
    expect(bubble.locator(".message-meta")).to_contain_text("長さの上限で打ち切り")
    idle(page)
    cut = bubble.locator(".message-body").inner_text()
    (record,) = stored(page)
    saved_cut = record["turns"][1]["content"]

    page.locator("#continue").click()

    longer = answered(page)
    idle(page)
    expect(answers(page)).to_have_count(1)
    expect(questions(page)).to_have_count(1)
    text = longer.locator(".message-body").inner_text()
    assert len(text) > len(cut)
    assert text.startswith(cut.rstrip()[:40])
    assert posts[-1]["mode"] == ["continue"]
    (record,) = stored(page)
    assert len(record["turns"]) == 2
    assert record["turns"][1]["content"].startswith(saved_cut)  # the same answer, extended
    assert len(record["turns"][1]["content"]) > len(saved_cut)


def test_the_conversation_says_once_how_many_turns_the_model_no_longer_sees(
    ollama_server: OllamaServer, app_factory: AppFactory, page: Page
) -> None:
    app = app_factory(ollama_server.host, CODA_MAX_HISTORY_MESSAGES="2", CODA_MAX_TOKENS="8")
    page.goto(app.url)
    for i, question in enumerate(["一", "二", "三", "四"]):
        ask(page, f"質問{question}")
        answered(page, i)
        idle(page)
        if i == 1:
            expect(page.locator(".left-out-notice")).to_have_count(0)

    notice = page.locator("#messages .left-out-notice")
    expect(notice).to_have_count(1)
    expect(notice).to_have_attribute("data-left-out", "4")
    expect(notice).to_contain_text("最初の 4 件")
    page.reload()
    expect(notice).to_have_count(1)
    expect(notice).to_have_attribute("data-left-out", "4")
    # It stays where turns were first left out: just before the third question.
    after = page.locator("#messages .left-out-notice + .message .message-body")
    expect(after).to_have_text("質問三")


def test_enter_while_an_ime_composes_never_sends(live_app: LiveApp, page: Page) -> None:
    posts = record_posts(page)
    page.goto(live_app.url)
    page.locator("#message").fill("にほんご")

    page.locator("#message").evaluate(
        """box => box.dispatchEvent(new KeyboardEvent('keydown',
             {key: 'Enter', isComposing: true, bubbles: true, cancelable: true}))"""
    )
    page.wait_for_timeout(500)

    assert posts == []
    expect(page.locator("#message")).to_have_value("にほんご")


def test_on_a_phone_the_list_opens_from_the_header_and_the_keyboard_reaches_everything(
    live_app: LiveApp, browser: Browser, screenshots: Path
) -> None:
    context = browser.new_context(
        locale="ja-JP", viewport={"width": 390, "height": 844}, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(live_app.url)
        page.locator("#message").fill("スマートフォンから質問します。")
        page.locator("#send").click()  # on a touch screen Enter adds a line
        answered(page)
        idle(page)
        expect(page.locator("#conversations")).to_be_hidden()
        toggle = page.locator("#toggle-conversations")

        toggle.focus()
        page.keyboard.press("Enter")

        expect(page.locator("#conversations")).to_be_visible()
        expect(page.locator("#search")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.locator(".conversation-open").first).to_be_focused()
        page.screenshot(path=screenshots / "conversations-phone-ja.png")
        page.keyboard.press("Escape")
        expect(page.locator("#conversations")).to_be_hidden()
        expect(toggle).to_be_focused()
        page.screenshot(path=screenshots / "chat-phone-ja.png", full_page=True)
    finally:
        context.close()
