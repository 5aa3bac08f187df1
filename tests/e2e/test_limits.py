"""Each limit as a person meets it, in a real browser against gunicorn and the real Ollama: the
bubble says which limit and when to try again, the text typed comes back to the box, another
chat's answer goes on streaming, and Ollama's own request log shows it was asked nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.support.live_app import LiveApp
from tests.support.ollama_server import OllamaServer

pytestmark = pytest.mark.e2e

AppFactory = Callable[..., LiveApp]
ANSWER_MS = 90_000
COUNTING = "1から1000まで、数字を一行ずつ書いてください。"
LONG = {"CODA_MAX_TOKENS": "2000", "CODA_TEMPERATURE": "0.8"}


def chat_posts(ollama: OllamaServer) -> int:
    """Answers Ollama was asked for, from its request log (a line as each request ends)."""
    return ollama.log_path.read_text(errors="replace").count('"/api/chat"')


def wait_for_posts(ollama: OllamaServer, expected: int) -> int:
    """Ollama's count once its in-flight requests have ended and been logged, and no more came."""
    deadline = time.monotonic() + 15
    while chat_posts(ollama) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # anything asked late would be logged by now
    return chat_posts(ollama)


def ask(page: Page, text: str) -> None:
    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")


def answers(page: Page) -> Iterator[Response]:
    """Every /chat response the page gets, as they come."""
    seen: list[Response] = []
    page.on("response", lambda r: seen.append(r) if r.url.endswith("/chat") else None)
    return iter(seen)


@pytest.fixture
def second_page(browser: Browser) -> Iterator[Page]:
    """Another tab of the same person (same address, so the same user without sign-in)."""
    context = browser.new_context(locale="ja-JP", viewport={"width": 1000, "height": 800})
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        ({"CODA_ANSWERS_PER_MINUTE": "1"}, "1 分間に頼める回答は 1 件まで"),
        ({"CODA_ANSWERS_PER_DAY": "1"}, "今日の回答の上限（1 件）"),
        ({"CODA_TOKENS_PER_DAY": "10"}, "今日のトークンの上限（10）"),
    ],
    ids=["answers per minute", "answers per day", "tokens per day"],
)
def test_a_used_up_allowance_says_so_and_asks_ollama_nothing(
    ollama_server: OllamaServer,
    app_factory: AppFactory,
    page: Page,
    screenshots: Path,
    limit: dict[str, str],
    said: str,
) -> None:
    # A short answer on a warm model: on two busy cores a long one could outlast the minute.
    ollama_server.warm()
    app = app_factory(ollama_server.host, CODA_MAX_TOKENS="8", **limit)
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/chat") else None)
    page.goto(app.url)
    ask(page, "日本の首都はどこですか？")
    first = page.locator('#messages .message[data-role="assistant"]').nth(0)
    expect(first).to_have_attribute("data-state", "done", timeout=ANSWER_MS)
    asked = wait_for_posts(ollama_server, 0)

    ask(page, "もう一つ質問です")

    refused = page.locator('#messages .message[data-role="assistant"]').nth(1)
    expect(refused).to_have_attribute("data-state", "error", timeout=10_000)
    expect(refused.locator(".message-error")).to_contain_text(said)
    expect(refused.locator(".message-error")).to_contain_text("後に")
    expect(page.locator("#message")).to_have_value("もう一つ質問です")
    expect(page.locator('#messages .message[data-role="user"]').nth(1)).to_contain_text(
        "もう一つ質問です"
    )
    assert statuses == [200, 429]
    assert wait_for_posts(ollama_server, asked) == asked, "Ollama was asked for a refused turn"
    assert first.locator(".message-body").inner_text().strip()  # the answer before stays
    if "CODA_ANSWERS_PER_MINUTE" in limit:
        page.screenshot(path=screenshots / "limit-per-minute-ja.png", full_page=True)


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        ({"CODA_STREAMS_PER_USER": "1"}, "ほかの回答がまだ生成中です"),
        ({"CODA_STREAMS_PER_INSTANCE": "1"}, "サーバーがほかの回答で混み合っています"),
    ],
    ids=["streams per user", "streams per instance"],
)
def test_a_second_answer_at_once_is_refused_while_the_first_streams_on(
    ollama_server: OllamaServer,
    app_factory: AppFactory,
    page: Page,
    second_page: Page,
    screenshots: Path,
    limit: dict[str, str],
    said: str,
) -> None:
    app = app_factory(ollama_server.host, **limit, **LONG)
    page.goto(app.url)
    second_page.goto(app.url)
    asked = wait_for_posts(ollama_server, 0)
    ask(page, COUNTING)
    streaming = page.locator('#messages .message[data-role="assistant"]').last
    body = streaming.locator(".message-body")
    expect(body).not_to_be_empty(timeout=ANSWER_MS)

    ask(second_page, "こんにちは")

    refused = second_page.locator('#messages .message[data-role="assistant"]').last
    expect(refused).to_have_attribute("data-state", "error", timeout=10_000)
    expect(refused.locator(".message-error")).to_contain_text(said)
    expect(second_page.locator("#message")).to_have_value("こんにちは")
    length_then = len(body.inner_text())
    page.wait_for_function(
        'n => document.querySelector(\'#messages .message[data-role="assistant"]:last-child '
        ".message-body').textContent.length > n + 20",
        arg=length_then,
        timeout=30_000,
    )
    expect(streaming).to_have_attribute("data-state", "streaming")
    second_page.screenshot(path=screenshots / f"limit-{next(iter(limit)).lower()}.png")
    page.locator("#stop").click()
    expect(streaming).to_have_attribute("data-state", "stopped", timeout=10_000)
    assert body.inner_text().strip()

    assert wait_for_posts(ollama_server, asked + 1) == asked + 1, "the refused turn reached Ollama"
    ask(second_page, "こんにちは")  # the stopped answer gave its place back
    again = second_page.locator('#messages .message[data-role="assistant"]').last
    expect(again.locator(".message-body")).not_to_be_empty(timeout=ANSWER_MS)
    expect(again).to_have_attribute("data-state", "streaming")
    second_page.locator("#stop").click()
    expect(again).to_have_attribute("data-state", "stopped", timeout=10_000)


def test_the_page_says_who_is_signed_in_through_the_proxy(
    ollama_server: OllamaServer, app_factory: AppFactory, browser: Browser, screenshots: Path
) -> None:
    app = app_factory(
        ollama_server.host,
        CODA_AUTH="proxy",
        CODA_TRUSTED_PROXIES="127.0.0.1",
        CODA_SIGN_OUT_URL="/oauth2/sign_out",  # oauth2-proxy's, which it answers itself
    )  # the browser stands in for the proxy: it connects from the trusted address
    context = browser.new_context(
        locale="en-US", extra_http_headers={"X-Forwarded-Email": "ada@example.com"}
    )
    page = context.new_page()
    try:
        page.goto(app.url)
        expect(page.locator("#signed-in")).to_have_text("Signed in as ada@example.com · Sign out")
        expect(page.locator("#signed-in #sign-out")).to_have_attribute("href", "/oauth2/sign_out")
        page.screenshot(path=screenshots / "signed-in-en.png")
    finally:
        context.close()
    assert app.access_lines_for("/")
    assert all("ada@example.com" not in str(line) for line in app.access_lines())
