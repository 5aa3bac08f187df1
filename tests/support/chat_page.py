"""The chat page as the browser tests drive it: asking, waiting for answers, reading storage."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from playwright.sync_api import Locator, Page, Request, expect

ANSWER_MS = 90_000  # a cold model on two busy cores


def open_chat(page: Page, url: str) -> None:
    """Load the page and wait until it has read its storage and shown what it opened."""
    page.goto(url)
    expect(page.locator("#chat-form[data-ready]")).to_be_attached()


def ask(page: Page, text: str) -> None:
    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")


def answers(page: Page) -> Locator:
    return page.locator('#messages .message[data-role="assistant"]')


def questions(page: Page) -> Locator:
    """The text of each question shown, in order."""
    return page.locator('#messages .message[data-role="user"] .message-body')


def answered(page: Page, index: int = -1, state: str = "done") -> Locator:
    """The `index`th answer (from 0; -1 the last) once it has ended in `state`."""
    bubble = answers(page).last if index < 0 else answers(page).nth(index)
    expect(bubble).to_have_attribute("data-state", state, timeout=ANSWER_MS)
    return bubble


def idle(page: Page) -> None:
    """No answer is streaming and the page has saved what it had (Send is enabled again)."""
    expect(page.locator("#send")).to_be_enabled(timeout=ANSWER_MS)
    page.wait_for_function("() => !document.querySelector('[data-state=\"streaming\"]')")


def stored(page: Page) -> list[dict[str, Any]]:
    """Every conversation this browser keeps, newest first (IndexedDB, through coda-store.js)."""
    records: list[dict[str, Any]] = page.evaluate("() => window.coda.store.all()")
    return records


def conversation_items(page: Page) -> Locator:
    return page.locator("#conversation-list li.conversation")


def record_posts(page: Page) -> list[dict[str, list[str]]]:
    """Every `/chat` post the page makes from now on, its form fields parsed."""
    posts: list[dict[str, list[str]]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/chat"):
            posts.append(parse_qs(request.post_data or "", keep_blank_values=True))

    page.on("request", record)
    return posts
