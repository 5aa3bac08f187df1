"""An answer as people read it, in Chromium: formatted while it streams (blocks that stay put, a
selection and a copy button that survive updates), and a reader who scrolled up left where they
are while the answer goes on below."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.chat_page import ANSWER_MS, answers, ask, open_chat
from tests.support.live_app import LiveApp
from tests.support.ollama_server import TEST_MODEL, OllamaServer
from tests.support.ollama_stub import scripted_ollama

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]
COUNTING = "1から1000まで、数字を一行ずつ書いてください。"

# An answer with every kind of block, in the pieces a model streams (a base model cannot be made
# to write a chosen answer, so a look-alike server speaking Ollama's wire format streams it).
FORMATTED = (
    "# 東京の概要\n\n"
    "**注意：**入力は必須です。\n\n"
    "これは**「重要」**な点です。\n\n"
    "**日本語の文章（括弧付き）。**この文が続きます。\n\n"
    "## 区の一覧\n\n"
    "- 千代田区\n- 中央区\n- 港区\n\n"
    "| 区 | 人口 |\n|---|---|\n| 千代田区 | 6万 |\n| 港区 | 26万 |\n\n"
    "```python\nwards = ['千代田', '中央', '港']\nprint(len(wards))\n```\n\n"
    + "".join(f"{n}. 段落の説明文がここに続きます。\n" for n in range(1, 25))
    + "\n最後の段落です。"
)
PIECES = [FORMATTED[at : at + 6] for at in range(0, len(FORMATTED), 6)]


def test_an_answer_is_formatted_while_it_streams_and_what_is_shown_stays_put(
    app_factory: AppFactory, page: Page, screenshots: Path
) -> None:
    with scripted_ollama(TEST_MODEL, PIECES, delay=0.04) as host:
        app = app_factory(host)
        open_chat(page, app.url)
        ask(page, "東京について")

        bubble = answers(page).last
        body = bubble.locator(".message-body")
        expect(body.locator("table")).to_be_visible()
        assert bubble.get_attribute("data-state") == "streaming", "the answer ended too soon"
        # Formatted mid-stream: headings, bold beside Japanese punctuation, a list, a table.
        expect(body.locator("h1")).to_have_text("東京の概要")
        expect(body.locator("strong").first).to_have_text("注意：")
        expect(body.locator("li").first).to_have_text("千代田区")
        assert "**" not in body.inner_text()
        # A selection in a finished block and the copy button of a finished code block are the
        # same nodes after more of the answer and after the final swap.
        expect(body.locator(".code-block pre span").first).to_be_visible()  # closed: highlighted
        page.evaluate(
            """() => {
              const h1 = document.querySelector('#messages .message-body h1');
              window.__heading = h1;
              window.__copy = document.querySelector('#messages .message-body .copy-code');
              getSelection().selectAllChildren(h1);
            }"""
        )
        page.screenshot(path=screenshots / "formatted-mid-stream.png", full_page=True)
        expect(bubble).to_have_attribute("data-state", "done", timeout=30_000)

    page.screenshot(path=screenshots / "formatted-done.png", full_page=True)
    kept = page.evaluate(
        """() => [
          window.__heading === document.querySelector('#messages .message-body h1'),
          window.__copy === document.querySelector('#messages .message-body .copy-code'),
          getSelection().toString(),
        ]"""
    )
    assert kept == [True, True, "東京の概要"]
    strong = body.locator("strong").all_inner_texts()
    assert strong == ["注意：", "「重要」", "日本語の文章（括弧付き）。"]
    assert "**" not in body.inner_text()
    # The saved answer is the text, not the formatted view: it comes back the same after a reload.
    page.reload()
    expect(answers(page).last.locator(".message-body table")).to_be_visible()
    assert answers(page).last.locator(".message-body strong").all_inner_texts() == strong


def scroll_top(page: Page) -> int:
    return int(page.evaluate("document.scrollingElement.scrollTop"))


def wait_scrolled_up_from(page: Page, top: int) -> int:
    """Where the page came to rest after scrolling up from `top` (a wheel's scroll is animated)."""
    page.wait_for_function(f"() => document.scrollingElement.scrollTop < {top}")
    return int(
        page.evaluate(
            """async () => {
              const e = document.scrollingElement;
              for (let last = -1; last !== e.scrollTop; ) {
                last = e.scrollTop;
                await new Promise((done) => setTimeout(done, 300));
              }
              return e.scrollTop;
            }"""
        )
    )


AT_BOTTOM = """() => { const e = document.scrollingElement;
  return e.scrollHeight - e.scrollTop - e.clientHeight <= 48; }"""


def test_a_reader_who_scrolls_up_stays_there_until_they_come_back(
    ollama_server: OllamaServer, app_factory: AppFactory, page: Page, screenshots: Path
) -> None:
    app = app_factory(ollama_server.host, CODA_MAX_TOKENS="600", CODA_TEMPERATURE="0.8")
    page.set_viewport_size({"width": 600, "height": 420})
    open_chat(page, app.url)
    jump = page.locator("#jump-latest")

    ask(page, COUNTING)
    bubble = answers(page).last
    page.wait_for_function(
        "() => document.scrollingElement.scrollHeight"
        " > document.scrollingElement.clientHeight + 120",
        timeout=ANSWER_MS,
    )
    assert bubble.get_attribute("data-state") == "streaming", "the answer ended too soon"
    page.wait_for_function(AT_BOTTOM)  # followed while the reader is at the bottom
    expect(jump).to_be_hidden()

    # The wheel: the reader stays where they scrolled to while the answer grows below.
    page.mouse.move(300, 150)
    top = scroll_top(page)
    page.mouse.wheel(0, -150)
    away = wait_scrolled_up_from(page, top)
    grown = page.evaluate("document.scrollingElement.scrollHeight")
    page.wait_for_function(
        f"() => document.scrollingElement.scrollHeight > {grown} + 30", timeout=ANSWER_MS
    )
    assert scroll_top(page) == away
    expect(jump).to_be_visible()
    page.screenshot(path=screenshots / "scrolled-up-mid-stream.png")

    # The button brings them back, and the page follows again.
    jump.click()
    page.wait_for_function(AT_BOTTOM)
    expect(jump).to_be_hidden()

    # The keyboard: away again, and the answer's final swap does not move them either.
    page.evaluate("document.activeElement.blur()")
    top = scroll_top(page)
    page.keyboard.press("PageUp")
    away = wait_scrolled_up_from(page, top)
    assert bubble.get_attribute("data-state") == "streaming", "the answer ended too soon"
    expect(bubble).not_to_have_attribute("data-state", "streaming", timeout=2 * ANSWER_MS)
    assert scroll_top(page) == away
    expect(jump).to_be_visible()
    page.screenshot(path=screenshots / "scrolled-up-after-the-end.png")
