"""Load-test a coda deployment with Locust: people who open the page and chat.

    pip install locust
    locust -f benchmarks/locustfile.py --host https://coda-web-xyz-an.a.run.app

Each simulated user loads the page (its own session cookie and CSRF token, as a browser tab has),
then sends questions and reads each answer's Server-Sent Events to the end, pausing between turns
as a person would. Besides the HTTP requests themselves, Locust's tables show two timings per
answer: `first text` (the first piece of the answer on screen: what people feel as waiting) and
`answer done` (the whole answer). An answer that ends in an `error` event, or without `done`, is
a failure with the message coda showed.

Settings (environment): CODA_LOAD_QUESTIONS, questions separated by `|` (a short Japanese default);
CODA_LOAD_PAUSE, seconds between a user's turns as `min,max` (default `2,8`); CODA_LOAD_HEADERS,
extra headers as JSON, e.g. `{"Authorization": "Bearer ..."}` for a deployment behind a sign-in.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from html import unescape

from locust import HttpUser, between, task

QUESTIONS = os.environ.get(
    "CODA_LOAD_QUESTIONS",
    "日本の首都はどこですか？|富士山の高さは？|おすすめの本を一冊教えてください。",
).split("|")
PAUSE = [float(x) for x in os.environ.get("CODA_LOAD_PAUSE", "2,8").split(",")]
HEADERS: dict[str, str] = json.loads(os.environ.get("CODA_LOAD_HEADERS", "{}"))
CSRF_META = re.compile(r'<meta\s+name="csrf-token"\s+content="([^"]+)"')
TEXT_SWAP = 'hx-swap="beforeend"'


class ChatUser(HttpUser):
    """One browser tab: loads the page once, then chats."""

    wait_time = between(PAUSE[0], PAUSE[-1])

    def on_start(self) -> None:
        self.client.headers.update(HEADERS)
        page = self.client.get("/", name="GET /")
        found = CSRF_META.search(page.text)
        self.token = unescape(found.group(1)) if found else ""

    @task
    def chat(self) -> None:
        started = time.perf_counter()
        first_text: float | None = None
        outcome = "the stream ended without done"
        form = {"message": random.choice(QUESTIONS), "history": "[]"}  # noqa: S311
        headers = {"X-CSRFToken": self.token, "HX-Request": "true"}
        with self.client.post(
            "/chat", data=form, headers=headers, stream=True, catch_response=True, name="POST /chat"
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            event, data = "", []
            for line in response.iter_lines(decode_unicode=True):
                if line:
                    field, _, value = line.partition(":")
                    if field == "event":
                        event = value.strip()
                    elif field == "data":
                        data.append(value.removeprefix(" "))
                    continue
                if event == "done":
                    outcome = ""
                    break
                if event == "error":
                    outcome = json.loads("\n".join(data)).get("message", "error event")
                    break
                if first_text is None and TEXT_SWAP in "\n".join(data):
                    first_text = time.perf_counter()
                    self._timing("first text", first_text - started)
                event, data = "", []
            if outcome:
                response.failure(outcome)
            else:
                response.success()
                self._timing("answer done", time.perf_counter() - started)

    def _timing(self, name: str, seconds: float) -> None:
        """A row of its own in Locust's tables, beside the HTTP requests."""
        self.environment.events.request.fire(
            request_type="SSE",
            name=name,
            response_time=seconds * 1000,
            response_length=0,
            exception=None,
            context={},
        )
