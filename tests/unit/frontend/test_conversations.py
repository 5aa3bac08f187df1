"""Saved conversations shown again (`/conversation`), imported (`/import`), and what a turn's
stream says for the browser to keep: usage, errors, interruptions, turns left out."""

from __future__ import annotations

import io
import json

import pytest
from flask.testing import FlaskClient

from coda.config.presets import shipped_presets
from coda.frontend.i18n import LANG_COOKIE
from coda.frontend.reading.posted_turn import InputError
from coda.frontend.reading.saved_conversation import read_import, read_saved_turns
from tests.support.client import post_turn
from tests.support.html import attr, bubbles, one, parse, partials
from tests.support.settings import PROMPT_LIMITS
from tests.support.sse import events
from tests.support.stub_model import StubModel

USAGE = {
    "model": "coda-test:270m",
    "prompt_tokens": 54,
    "completion_tokens": 48,
    "tokens_per_second": 20.4,
    "speed_source": "server",
    "done_reason": "length",
}
SAVED = [
    {"role": "user", "content": "q1", "state": "done"},
    {"role": "assistant", "content": "a1", "state": "done", "usage": USAGE},
    {"role": "user", "content": "q2", "state": "done"},
    {"role": "assistant", "content": "", "state": "error", "error": "サーバーに接続できません"},
    {"role": "user", "content": "q3", "state": "done"},
    {"role": "assistant", "content": "half", "state": "streaming"},
]


def restore(client: FlaskClient, saved: object, **fields: str) -> tuple[int, str]:
    response = client.post("/conversation", data={"history": json.dumps(saved), **fields})
    return response.status_code, response.get_data(as_text=True)


def test_a_restored_answer_keeps_its_usage_line_its_error_and_an_interruption(
    client: FlaskClient,
) -> None:
    status, html = restore(client, SAVED)

    assert status == 200
    done, failed, interrupted = bubbles(html, "assistant")
    meta = one(done, ".message-meta").get_text()
    assert meta.startswith("coda-test:270m · 入力 54 トークン · 出力 48 トークン · 20.4")
    assert "長さの上限で打ち切り" in meta
    assert attr(failed, "data-state") == "error"
    assert one(failed, ".message-error").get_text() == "サーバーに接続できません"
    assert attr(interrupted, "data-state") == "interrupted"
    assert one(interrupted, ".message-body").get_text().strip() == "half"
    assert "ページが閉じられた" in one(interrupted, ".message-status").get_text()


def test_a_restored_answer_that_did_not_finish_offers_to_continue_when_it_has_text(
    client: FlaskClient,
) -> None:
    finished = {**USAGE, "done_reason": "stop"}
    saved = [
        *SAVED,
        {"role": "assistant", "content": "stopped here", "state": "stopped"},
        {"role": "assistant", "content": "cut", "state": "error", "error": "接続が切れました"},
        {"role": "assistant", "content": "whole", "state": "done", "usage": finished},
        {"role": "assistant", "content": "  ", "state": "stopped"},
    ]

    _, html = restore(client, saved)

    cut, failed, interrupted, stopped, dropped, whole, blank = bubbles(html, "assistant")
    for offering in (cut, interrupted, stopped, dropped):
        assert attr(offering, "data-offers") == "continue"
    for finished_or_empty in (failed, whole, blank):
        assert finished_or_empty.get("data-offers") is None
    assert all(b.get("data-offers") is None for b in bubbles(html, "user"))


def test_a_restored_answer_with_estimated_counts_still_says_they_are_estimated(
    client: FlaskClient,
) -> None:
    saved = [{"role": "assistant", "content": "a", "usage": {**USAGE, "token_source": "estimated"}}]

    status, html = restore(client, saved)
    (turn,) = read_saved_turns(saved, PROMPT_LIMITS)

    assert status == 200
    assert "推定" in one(html, ".message-meta").get_text()
    assert turn.usage is not None
    assert turn.usage.token_source.value == "estimated"


def test_the_turns_left_out_notice_sits_where_it_first_appeared(client: FlaskClient) -> None:
    status, html = restore(client, SAVED, left_out="4", left_out_at="2")

    assert status == 200
    page = parse(html)
    children = [c for c in page.children if getattr(c, "name", None)]
    notice = one(html, "#left-out")
    assert children.index(notice) == 2
    assert "4" in notice.get_text()


@pytest.mark.parametrize(
    "usage",
    [
        {**USAGE, "prompt_tokens": "54"},
        {**USAGE, "prompt_tokens": True},
        {**USAGE, "tokens_per_second": "fast"},
        {**USAGE, "speed_source": "guess"},
        {**USAGE, "token_source": "guess"},
        {**USAGE, "model": ""},
        {**USAGE, "extra": 1},
        "coda-test · 54 tokens",
    ],
)
def test_a_usage_line_that_is_not_one_is_refused(usage: object) -> None:
    saved = [{"role": "assistant", "content": "a", "usage": usage}]

    with pytest.raises(InputError):
        read_saved_turns(saved, PROMPT_LIMITS)


def test_markup_in_a_saved_error_or_usage_is_shown_as_text(client: FlaskClient) -> None:
    saved = [
        {
            "role": "assistant",
            "content": "a",
            "state": "error",
            "error": "<img src=x onerror=alert(1)>",
            "usage": {**USAGE, "model": "<b>m</b>"},
        }
    ]

    _, html = restore(client, saved)

    (answer,) = bubbles(html, "assistant")
    assert answer.find("img") is None
    assert answer.find("b") is None
    assert "<img src=x" in one(answer, ".message-error").get_text()


EXPORTED = {
    "format": "coda.conversation",
    "version": 1,
    "title": "首都の話",
    "created": "2026-11-22T00:00:00.000Z",
    "turns": SAVED[:4],
    "settings": {"preset": "code-review", "fields": {"strictness": "high"}, "temperature": "0.2"},
}


def upload(client: FlaskClient, content: bytes) -> tuple[int, str]:
    response = client.post(
        "/import",
        data={"file": (io.BytesIO(content), "c.json")},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def test_an_exported_conversation_is_checked_and_handed_back_to_keep(client: FlaskClient) -> None:
    status, html = upload(client, json.dumps(EXPORTED).encode())

    assert status == 200
    result = one(html, "#imported")
    kept = json.loads(attr(result, "data-conversation"))
    assert kept["title"] == "首都の話"
    assert [t["content"] for t in kept["turns"]] == ["q1", "a1", "q2", ""]
    # A file from before token sources were kept: its counts were the server's.
    assert kept["turns"][1]["usage"] == {**USAGE, "token_source": "server"}
    assert kept["turns"][3]["error"] == "サーバーに接続できません"
    assert kept["settings"]["preset"] == "code-review"
    assert kept["settings"]["fields"]["strictness"] == "high"
    assert "首都の話" in result.get_text()


def resaved(text: str) -> list[bytes]:
    """An exported file as another program may save it again: re-indented, with CRLF line
    endings, with a UTF-8 byte order mark, with its keys reordered, or all of these at once."""
    reordered = json.dumps(dict(reversed(json.loads(text).items())), ensure_ascii=False, indent=4)
    crlf = text.replace("\n", "\r\n")
    return [
        json.dumps(json.loads(text), indent="\t").encode(),
        crlf.encode(),
        b"\xef\xbb\xbf" + text.encode(),
        reordered.encode(),
        b"\xef\xbb\xbf" + reordered.replace("\n", "\r\n").encode(),
    ]


def test_an_exported_file_saved_again_by_another_program_imports_as_it_did(
    client: FlaskClient,
) -> None:
    exported = json.dumps(EXPORTED, ensure_ascii=False, indent=2) + "\n"
    _, first = upload(client, exported.encode())
    expected = json.loads(attr(one(first, "#imported"), "data-conversation"))

    for content in resaved(exported):
        status, html = upload(client, content)

        assert status == 200, content[:40]
        assert json.loads(attr(one(html, "#imported"), "data-conversation")) == expected


@pytest.mark.parametrize("version", [True, 1.0, "1", 2, None])
def test_only_version_1_exactly_is_version_1(client: FlaskClient, version: object) -> None:
    status, _ = upload(client, json.dumps({**EXPORTED, "version": version}).encode())

    assert status == 422


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        json.dumps([{"role": "user", "content": "hi"}]).encode(),
        json.dumps({**EXPORTED, "format": "other"}).encode(),
        json.dumps({**EXPORTED, "turns": []}).encode(),
        json.dumps({**EXPORTED, "turns": [{"role": "system", "content": "x"}]}).encode(),
        json.dumps({**EXPORTED, "turns": [{"role": "user", "content": 3}]}).encode(),
        b"[" * 3000,
    ],
)
def test_a_file_that_is_not_a_conversation_is_refused_with_a_message(
    client: FlaskClient, content: bytes
) -> None:
    client.set_cookie(LANG_COOKIE, "en")

    status, html = upload(client, content)

    assert status == 422
    assert "not a coda conversation" in one(html, ".message-error").get_text()
    assert parse(html).select("[data-conversation]") == []


def test_an_import_has_the_limits_of_history() -> None:
    too_long = {**EXPORTED, "turns": [{"role": "user", "content": "x" * 1001}]}

    with pytest.raises(InputError) as caught:
        read_import(json.dumps(too_long), PROMPT_LIMITS, shipped_presets(), ("a:1",))

    assert caught.value.reason == "not_a_conversation"


def test_settings_this_server_does_not_offer_are_left_out_of_an_import() -> None:
    foreign = {**EXPORTED, "settings": {"preset": "poetry", "fields": {}}}

    kept = read_import(json.dumps(foreign), PROMPT_LIMITS, shipped_presets(), ("a:1",))

    assert "settings" not in kept
    assert len(kept["turns"]) == 4  # type: ignore[arg-type]


def test_the_last_event_says_what_to_keep(client: FlaskClient) -> None:
    *_, done = post_turn(client, "hi")

    data = json.loads(done.data)
    assert data["question"] == "hi"
    assert data["usage"]["model"] == "stub:1"
    assert data["usage"]["completion_tokens"] == 3
    assert data["left_out"] == 0


def test_continuing_adds_no_question_and_the_answer_grows_from_where_it_was(
    client: FlaskClient, stub: StubModel
) -> None:
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "前半"}]
    response = client.post(
        "/chat", data={"mode": "continue", "history": json.dumps(history)}, buffered=False
    )

    opening, *_, final, done = list(events(response.response))
    response.close()

    assert bubbles(opening.data, "user") == []
    (streaming,) = bubbles(opening.data, "assistant")
    assert one(streaming, ".message-body").get_text().strip() == "前半"
    assert one(streaming, ".message-source").get_text() == "前半"  # what the page saves
    (replacement,) = partials(final.data, "outerMorph")
    assert "前半こんにちは、世界" in replacement.get_text()
    data = json.loads(done.data)
    assert data["content"] == "前半こんにちは、世界"
    assert data["question"] is None
    assert stub.received[0][-2].content == "前半"


def test_the_turns_left_out_notice_is_added_once_then_updated(client: FlaskClient) -> None:
    first = post_turn_with(client, earlier="3", left_out_shown="0")
    again = post_turn_with(client, earlier="3", left_out_shown="3")
    grown = post_turn_with(client, earlier="5", left_out_shown="3")

    assert attr(one(first, "#left-out"), "data-left-out") == "3"
    assert partials(first, "outerHTML", "#left-out") == []
    assert parse(again).select("#left-out") == []
    (update,) = partials(grown, "outerHTML", "#left-out")
    assert attr(one(update, "#left-out"), "data-left-out") == "5"


def post_turn_with(client: FlaskClient, **fields: str) -> str:
    """The opening event of a turn posted with extra form fields."""
    response = client.post("/chat", data={"message": "hi", **fields}, buffered=False)
    opening = next(iter(events(response.response)))
    response.get_data()
    response.close()
    return opening.data
