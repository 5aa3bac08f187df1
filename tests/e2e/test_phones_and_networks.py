"""The page on phones and flaky networks, in Chromium against the real app and the real model:
a touch keyboard writes several lines, storage the browser closed opens again, a stream that
went silent ends as a lost connection and is continued, a page served on a LAN address over
plain HTTP still does everything, and a second tab follows a finished answer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.chat_page import (
    ANSWER_MS,
    answered,
    answers,
    ask,
    conversation_items,
    idle,
    open_chat,
    questions,
    record_posts,
    stored,
)
from tests.support.freezing_relay import relaying
from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]
PHONE = "Pixel 7"


@pytest.fixture
def phone(playwright_driver: Playwright, browser: Browser) -> Iterator[BrowserContext]:
    """A phone: touch, a small screen, a mobile user agent (Playwright's device profile)."""
    device = playwright_driver.devices[PHONE]
    profile = {k: v for k, v in device.items() if k != "default_browser_type"}
    context = browser.new_context(locale="ja-JP", **profile)
    yield context
    context.close()


def test_on_a_phone_enter_adds_a_line_and_the_send_button_sends(
    live_app: LiveApp, phone: BrowserContext, screenshots: Path
) -> None:
    page = phone.new_page()
    posts = record_posts(page)
    open_chat(page, live_app.url)
    box = page.locator("#message")
    expect(box).to_have_attribute("enterkeyhint", "enter")

    box.tap()
    page.keyboard.type("一行目です。")
    page.keyboard.press("Enter")
    page.keyboard.type("二行目です。")
    page.wait_for_timeout(300)

    assert posts == []
    expect(box).to_have_value("一行目です。\n二行目です。")
    expect(page.locator("#composer-hint")).to_be_visible()
    expect(page.locator("#composer-hint")).to_contain_text("「送信」ボタン")
    page.screenshot(path=screenshots / "phone-two-lines-ja.png")
    page.locator("#send").tap()
    answered(page)
    idle(page)
    expect(questions(page)).to_have_text(["一行目です。\n二行目です。"])
    assert posts[0]["message"] == ["一行目です。\n二行目です。"]
    page.screenshot(path=screenshots / "phone-answered-ja.png")

    # The person may choose Enter sends; the return key says so, and the choice outlives a reload.
    page.locator("#settings summary").tap()
    page.locator("#enter-sends").tap()
    expect(box).to_have_attribute("enterkeyhint", "send")
    page.screenshot(path=screenshots / "phone-settings-ja.png")
    page.reload()
    expect(page.locator("#enter-sends")).to_be_checked()
    box.tap()
    box.evaluate(  # Enter confirming an IME's text never sends, even then
        """box => box.dispatchEvent(new KeyboardEvent('keydown',
             {key: 'Enter', isComposing: true, bubbles: true, cancelable: true}))"""
    )
    page.keyboard.type("送信します")
    page.keyboard.press("Enter")
    answered(page, 1)
    assert len(posts) == 2
    assert posts[1]["message"] == ["送信します"]


def handles_kept() -> str:
    """An init script that keeps every connection the page opens, for the test to close."""
    return """(() => {
      const open = IDBFactory.prototype.open;
      window.__codaConnections = [];
      IDBFactory.prototype.open = function (...args) {
        const request = open.apply(this, args);
        request.addEventListener("success", () => window.__codaConnections.push(request.result));
        return request;
      };
    })();"""


def test_storage_the_browser_closed_is_opened_again_and_nothing_is_lost(
    live_app: LiveApp, page: Page
) -> None:
    page.add_init_script(handles_kept())
    open_chat(page, live_app.url)
    ask(page, "一つ目の質問です。")
    answered(page)
    idle(page)

    closed = page.evaluate("() => window.__codaConnections.map((db) => db.close()).length")
    ask(page, "閉じられた後の質問です。")
    answered(page, 1)
    idle(page)

    assert closed >= 1
    expect(page.locator("#storage-status")).to_be_hidden()
    (record,) = stored(page)
    assert [t["state"] for t in record["turns"]] == ["done"] * 4
    page.reload()
    expect(questions(page)).to_have_text(["一つ目の質問です。", "閉じられた後の質問です。"])
    expect(answers(page)).to_have_count(2)
    expect(conversation_items(page)).to_have_count(1)


def test_a_newer_version_in_another_tab_is_said_and_the_page_keeps_what_it_shows(
    live_app: LiveApp, browser: Browser, screenshots: Path
) -> None:
    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        open_chat(page, live_app.url)
        ask(page, "更新の前の質問です。")
        answered(page)
        idle(page)
        newer = context.new_page()
        newer.goto(f"{live_app.url}/healthz")  # the same origin, so the same database
        upgraded = page.evaluate("() => window.coda.store.version") + 1

        version = newer.evaluate(
            """(upgraded) => new Promise((resolve, reject) => {
              const request = indexedDB.open("coda", upgraded);
              request.onsuccess = () => {
                const db = request.result;
                db.close();
                resolve(db.version);
              };
              request.onerror = () => reject(request.error);
              request.onblocked = () => {};  // the old tab lets go on its versionchange
            })""",
            upgraded,
        )

        assert version == upgraded
        status = page.locator("#storage-status")
        expect(status).to_be_visible()
        expect(status).to_contain_text("更新されたため")
        ask(page, "更新の後の質問です。")
        answered(page, 1)
        idle(page)
        expect(status).to_contain_text("再読み込みしてください")
        expect(questions(page)).to_have_text(["更新の前の質問です。", "更新の後の質問です。"])
        expect(conversation_items(page)).to_have_count(1)  # the list stays as it was
        page.screenshot(path=screenshots / "phone-storage-outdated-ja.png")
    finally:
        context.close()


@pytest.fixture
def quick_heartbeats(ollama_server: OllamaServer, app_factory: AppFactory) -> LiveApp:
    """coda with a heartbeat every second, so the page calls a stream dead after 5 s (its
    floor); short answers, so that continuing one ends soon on two busy cores."""
    return app_factory(ollama_server.host, CODA_HEARTBEAT_SECONDS="1", CODA_MAX_TOKENS="24")


def port_of(app: LiveApp) -> int:
    port = urlsplit(app.url).port
    assert port is not None
    return port


def test_a_stream_gone_silent_ends_as_a_lost_connection_and_is_continued(
    quick_heartbeats: LiveApp, browser: Browser, screenshots: Path
) -> None:
    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    try:
        with relaying(port_of(quick_heartbeats)) as relay:
            page = context.new_page()
            posts = record_posts(page)
            open_chat(page, relay.url)
            relay.arm()
            ask(page, "日本の歴史について、できるだけ詳しく長く説明してください。")
            bubble = answers(page).last
            expect(bubble.locator(".message-body")).not_to_be_empty(timeout=ANSWER_MS)
            assert relay.frozen.wait(5)
            frozen_at = time.monotonic()
            expect(bubble).to_have_attribute("data-state", "streaming")
            expect(page.locator("#stop")).to_be_enabled()

            expect(bubble).to_have_attribute("data-state", "error", timeout=30_000)

            waited = time.monotonic() - frozen_at
            assert waited >= 4, f"a live stream would have been cut too: {waited:.1f} s"
            expect(bubble.locator(".message-error")).to_contain_text("接続が切れ")
            partial = bubble.locator(".message-body").inner_text()
            assert partial.strip()
            expect(page.locator("#send")).to_be_enabled()
            expect(page.locator("#stop")).to_be_hidden()
            expect(page.locator("#continue")).to_be_visible()
            (record,) = stored(page)
            assert record["turns"][1]["state"] == "error"
            assert record["turns"][1]["content"].strip() == partial.strip()
            page.screenshot(path=screenshots / "phone-connection-lost-ja.png")

            page.locator("#continue").click()

            longer = answered(page)
            idle(page)
            assert posts[-1]["mode"] == ["continue"]
            text = longer.locator(".message-body").inner_text()
            assert text.startswith(partial.strip()[:20])
            assert len(text) > len(partial.strip())
            expect(answers(page)).to_have_count(1)
            (record,) = stored(page)
            assert [t["state"] for t in record["turns"]] == ["done", "done"]
            page.screenshot(path=screenshots / "phone-continued-ja.png")
    finally:
        context.close()


def test_an_answer_stopped_midway_is_continued(quick_heartbeats: LiveApp, browser: Browser) -> None:
    context = browser.new_context(locale="ja-JP")
    try:
        with relaying(port_of(quick_heartbeats)) as relay:
            page = context.new_page()
            open_chat(page, relay.url)
            relay.arm()  # holds the answer after its first text, so Stop lands midway
            ask(page, "日本の歴史について、できるだけ詳しく長く説明してください。")
            bubble = answers(page).last
            expect(bubble.locator(".message-body")).not_to_be_empty(timeout=ANSWER_MS)

            page.locator("#stop").click()

            expect(bubble).to_have_attribute("data-state", "stopped")
            expect(bubble).to_have_attribute("data-offers", "continue")
            stopped = bubble.locator(".message-body").inner_text().strip()
            expect(page.locator("#continue")).to_be_visible()
            page.reload()  # the server's bubble offers it too
            expect(answers(page).last).to_have_attribute("data-state", "stopped")
            expect(page.locator("#continue")).to_be_visible()

            page.locator("#continue").click()

            longer = answered(page)
            idle(page)
            assert longer.locator(".message-body").inner_text().startswith(stopped[:20])
            expect(page.locator("#messages .message")).to_have_count(2)
    finally:
        context.close()


def resaved(text: str) -> bytes:
    """An exported file as an editor or a sync tool may save it again: keys reordered, indented
    with tabs, CRLF line endings and a UTF-8 byte order mark."""
    data = json.loads(text)
    data = {key: data[key] for key in reversed(list(data))}
    data["turns"] = [{k: t[k] for k in reversed(list(t))} for t in data["turns"]]
    return (
        b"\xef\xbb\xbf"
        + json.dumps(data, ensure_ascii=False, indent="\t").replace("\n", "\r\n").encode()
    )


CODE_ANSWER = "コードです。\n\n```python\nprint('こんにちは')\n```\n"


def test_a_page_on_a_lan_address_over_plain_http_still_does_everything(
    live_app: LiveApp, playwright_driver: Playwright, tmp_path: Path, screenshots: Path
) -> None:
    # A name that is not loopback to the browser (as a LAN address is), resolved to loopback.
    port = port_of(live_app)
    lan = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP coda.lan 127.0.0.1"],
        headless=True,
    )
    try:
        context = lan.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
        page = context.new_page()
        open_chat(page, f"http://coda.lan:{port}/")
        withheld = page.evaluate(
            "() => [isSecureContext, typeof crypto.randomUUID, typeof navigator.clipboard]"
        )
        assert withheld == [False, "undefined", "undefined"]

        ask(page, "LAN からの質問です。")
        answered(page)
        idle(page)
        with page.expect_download() as exported:
            page.locator("#export-json").click()
        original = Path(exported.value.path()).read_text(encoding="utf-8")
        exported_turns = json.loads(original)["turns"]

        # The file, opened and saved again elsewhere, with an answer holding code added.
        data = json.loads(original)
        data["turns"] += [
            {"role": "user", "content": "コードを見せて", "state": "done"},
            {"role": "assistant", "content": CODE_ANSWER, "state": "done"},
        ]
        changed = tmp_path / "edited.json"
        changed.write_bytes(resaved(json.dumps(data, ensure_ascii=False, indent=2)))
        page.locator("#new-chat").click()
        page.set_input_files("#import-file", changed)

        expect(page.locator("#import-status")).to_contain_text("読み込みました")
        expect(page.locator("#messages .message")).to_have_count(4)
        imported = next(r for r in stored(page) if len(r["turns"]) == 4)
        kept = [(t["role"], t["content"], t["state"], t.get("usage")) for t in imported["turns"]]
        assert kept[:2] == [
            (t["role"], t["content"], t["state"], t.get("usage")) for t in exported_turns
        ]
        assert kept[3][1] == CODE_ANSWER
        copy = page.locator(".copy-code").last
        label = copy.inner_text()
        copy.click()
        expect(copy).not_to_have_text(label)  # copied, or why it cannot be
        said = copy.inner_text()
        assert said in {"コピーしました", "コピーできません。選択してコピーしてください"}
        page.screenshot(path=screenshots / "phone-lan-http-ja.png")
        context.close()
    finally:
        lan.close()


def test_a_second_tab_shows_the_other_tabs_finished_answer_as_finished(
    ollama_server: OllamaServer, app_factory: AppFactory, browser: Browser
) -> None:
    # One-token answers: the answer ends while the other tab is still showing it as begun.
    app = app_factory(ollama_server.host, CODA_MAX_TOKENS="1")
    context = browser.new_context(locale="ja-JP")
    try:
        asking, following = context.new_page(), context.new_page()
        open_chat(asking, app.url)
        ask(asking, "一つ目の質問です。")
        answered(asking)
        idle(asking)
        open_chat(following, app.url)
        expect(answers(following)).to_have_count(1)

        ask(asking, "二つ目の質問です。")
        answered(asking, 1)
        idle(asking)

        expect(answers(following)).to_have_count(2)
        expect(answers(following).last).to_have_attribute("data-state", "done")
        expect(answers(following).last.locator(".message-body")).to_have_text(
            answers(asking).last.locator(".message-body").inner_text()
        )
        expect(questions(following)).to_have_text(["一つ目の質問です。", "二つ目の質問です。"])
    finally:
        context.close()
