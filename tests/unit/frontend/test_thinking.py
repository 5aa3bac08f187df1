"""A thinking model's turn in the page: a thinking state, its reasoning collapsed above the
answer, kept with the conversation and never sent back; and thinking turned off per model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coda.config.presets import load_presets, shipped_presets
from coda.frontend.reading.saved_conversation import read_import
from coda.infrastructure.app import create_app
from tests.support.client import post_turn
from tests.support.html import bubbles, one, partials
from tests.support.settings import PROMPT_LIMITS, WEB_SETTINGS
from tests.support.sse import Event
from tests.support.stub_model import USAGE, StubModel


def final_answer(received: list[Event]) -> str:
    (replacement,) = partials(received[-2].data, "outerMorph")
    (answer,) = bubbles(str(replacement), "assistant")
    return str(answer)


def test_reasoning_shows_a_thinking_state_then_sits_collapsed_above_the_answer(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.thoughts = ["Let me **see**. ", "2 + 2 = 4."]
    stub.texts = ["4"]
    stub.delay = 0.05  # each piece its own event

    received = post_turn(client, "2 + 2?")

    notices = [e for e in received if partials(e.data, "innerHTML", "-notice")]
    assert "考えています" in notices[0].data
    answer = final_answer(received)
    block = one(answer, "details.message-reasoning")
    assert block.get("open") is None  # collapsed
    assert one(block, "strong").get_text() == "see"
    assert one(answer, ".message-body").get_text().strip() == "4"
    children = [c for c in one(answer, "article").children if getattr(c, "name", None)]
    assert children.index(block) < children.index(one(answer, ".message-body"))
    done = json.loads(received[-1].data)
    assert done["reasoning"] == "Let me **see**. 2 + 2 = 4."
    assert done["content"] == "4"


def test_reasoning_is_sanitized_like_the_answer(client: FlaskClient, stub: StubModel) -> None:
    stub.thoughts = ['<script>alert(1)</script><img src=x onerror="alert(2)">']

    answer = final_answer(post_turn(client))

    block = one(answer, "details.message-reasoning")
    assert block.find("script") is None
    assert all(not img.get("onerror") for img in block.find_all("img"))


def test_reasoning_that_used_the_whole_length_says_so_not_empty_and_not_rephrase(
    client: FlaskClient, stub: StubModel
) -> None:
    stub.thoughts = [f"step {i}. " for i in range(300)]
    stub.texts = []
    stub.usage = replace(USAGE, done_reason="length", completion_tokens=1024)

    received = post_turn(client)

    said = one(final_answer(received), ".message-error").get_text()
    assert "考えるだけで" in said
    assert "空の回答" not in said
    assert "言い換え" not in said
    done = json.loads(received[-1].data)
    assert done["usage"]["done_reason"] == "length"
    assert done["reasoning"].startswith("step 0.")


def test_the_log_line_says_which_first_token_it_timed(
    client: FlaskClient, stub: StubModel, caplog: pytest.LogCaptureFixture
) -> None:
    stub.thoughts = ["hmm"]
    with caplog.at_level("INFO", logger="coda.access"):
        post_turn(client)

    (line,) = [r for r in caplog.records if r.name == "coda.access"]
    assert 0 <= vars(line)["first_thinking_ms"] <= vars(line)["first_token_ms"]


def test_a_restored_answer_keeps_its_reasoning_and_an_export_carries_it(
    client: FlaskClient,
) -> None:
    saved = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning": "because *so*"},
    ]

    html = client.post("/conversation", data={"history": json.dumps(saved)}).get_data(True)
    exported = {"format": "coda.conversation", "version": 1, "turns": saved}
    imported = read_import(json.dumps(exported), PROMPT_LIMITS, shipped_presets(), ("stub:1",))

    assert one(html, "details.message-reasoning em").get_text() == "so"
    assert imported["turns"] == [
        {"role": "user", "content": "q", "state": "done"},
        {"role": "assistant", "content": "a", "state": "done", "reasoning": "because *so*"},
    ]


def test_reasoning_is_never_sent_back_as_history(client: FlaskClient, stub: StubModel) -> None:
    history = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]

    post_turn(client, "again", history)

    assert all("because" not in m.content for m in stub.received[0])


def test_thinking_is_turned_off_for_the_models_named(stub: StubModel) -> None:
    settings = replace(WEB_SETTINGS, no_thinking_models=("stub:1",))
    app: Flask = create_app(settings, chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False

    post_turn(app.test_client())
    post_turn(app.test_client(), model="")  # the same model again: still off

    assert [o.think for o in stub.options_seen] == [False, False]


def test_thinking_is_left_to_the_model_otherwise(client: FlaskClient, stub: StubModel) -> None:
    post_turn(client)

    assert stub.options_seen[0].think is None


def test_a_preset_can_turn_thinking_off(stub: StubModel, tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "coda" / "config" / "presets.toml").read_text()
    quiet = text.replace('id = "general"', 'id = "general"\nthink = false', 1)
    presets_file = tmp_path / "presets.toml"
    presets_file.write_text(quiet, encoding="utf-8")
    settings = replace(WEB_SETTINGS, presets=load_presets(presets_file))
    app: Flask = create_app(settings, chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False

    post_turn(app.test_client())

    assert stub.options_seen[0].think is False
