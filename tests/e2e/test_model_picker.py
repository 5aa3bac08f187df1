"""Choosing the model in a real browser, against gunicorn talking to the real Ollama through the
OpenAI-compatible API it serves at `/v1`: the second adapter and the picker, end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Page, Request, expect

from tests.support.live_app import LiveApp
from tests.support.ollama_server import TEST_MODEL, OllamaServer

pytestmark = pytest.mark.e2e

ANSWER_MS = 90_000  # a cold model on two busy cores
AppFactory = Callable[..., LiveApp]


def ask(page: Page, text: str) -> None:
    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")


def usage_line(page: Page, index: int) -> str:
    """The usage line of the `index`th answer (from 0), once it is done."""
    bubble = page.locator('#messages .message[data-role="assistant"]').nth(index)
    expect(bubble).to_have_attribute("data-state", "done", timeout=ANSWER_MS)
    return bubble.locator(".message-meta").inner_text()


def test_the_chosen_model_answers_is_named_and_is_kept_with_the_conversation(
    ollama_server: OllamaServer,
    second_model: str,
    app_factory: AppFactory,
    page: Page,
    screenshots: Path,
) -> None:
    app = app_factory(
        ollama_server.host,
        CODA_PROVIDER="openai",
        CODA_OPENAI_BASE_URL=f"{ollama_server.host}/v1",
        CODA_MODELS=f"{TEST_MODEL},{second_model}",
        CODA_MAX_TOKENS="16",
    )
    sent: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/chat"):
            sent.extend(parse_qs(request.post_data or "").get("model", []))

    page.on("request", record)
    page.goto(app.url)
    picker = page.locator("#chat-form select#model")
    expect(picker).to_have_value(TEST_MODEL)
    expect(picker.locator("option")).to_have_count(2)

    picker.select_option(second_model)
    ask(page, "日本の首都はどこですか？")

    meta = usage_line(page, 0)
    assert meta.startswith(f"{second_model} · ")
    assert "トークン/秒（coda 計測）" in meta
    page.screenshot(path=screenshots / "model-picker-ja.png", full_page=True)

    page.reload()
    expect(page.locator('#messages .message[data-role="assistant"]')).to_have_count(1)
    expect(picker).to_have_value(second_model)
    ask(page, "もう一度どうぞ。")
    assert usage_line(page, 1).startswith(f"{second_model} · ")

    picker.select_option(TEST_MODEL)
    ask(page, "ありがとう。")
    assert usage_line(page, 2).startswith(f"{TEST_MODEL} · ")
    assert sent == [second_model, second_model, TEST_MODEL]


def test_a_model_the_server_does_not_allow_is_refused_with_a_message(
    ollama_server: OllamaServer, second_model: str, app_factory: AppFactory, page: Page
) -> None:
    app = app_factory(ollama_server.host, CODA_MODELS=f"{TEST_MODEL},{second_model}")
    page.goto(app.url)
    # What a forged page would send: an option the server never offered.
    page.locator("#model").evaluate(
        "select => { select.add(new Option('root:70b', 'root:70b')); select.value = 'root:70b'; }"
    )

    ask(page, "こんにちは")

    bubble = page.locator('#messages .message[data-role="assistant"]').last
    expect(bubble).to_have_attribute("data-state", "error", timeout=10_000)
    expect(bubble.locator(".message-error")).to_contain_text("モデル「root:70b」は選べません")
    # Refused before streaming: the message is back in the box to send again.
    expect(page.locator("#message")).to_have_value("こんにちは")
