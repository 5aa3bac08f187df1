"""One catalogue, two languages; the request's language comes from the switch, then the browser."""

from __future__ import annotations

import pytest
from flask import Flask

from coda.frontend.i18n import CATALOGUE, LANG_COOKIE, error_message, pick_language, translate
from coda.frontend.posted_turn import InputError
from coda.llm import (
    BusyError,
    EndedEarlyError,
    LLMError,
    LLMTimeoutError,
    ModelCannotLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    RejectedError,
    ServerAuthError,
    StreamInterruptedError,
    UnavailableError,
)


def test_every_message_exists_in_both_languages() -> None:
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"ja", "en"}, key
        assert all(text.strip() for text in entry.values()), key


@pytest.mark.parametrize(
    "error",
    [
        UnavailableError("x"),
        BusyError("x"),
        ModelNotFoundError("x", params={"model": "m:1"}),
        LLMTimeoutError("x"),
        StreamInterruptedError("x"),
        LLMError("x"),
        RejectedError("x"),
        ModelCannotLoadError("x", params={"model": "m:1"}),
        ModelCannotLoadError("x", params={"model": "m:1", "reason": "memory"}),
        PromptTooLongError("x"),
        ServerAuthError("x", params={"status": 401}),
        EndedEarlyError("x"),
        InputError("empty", "x"),
        InputError("message_too_long", "x", limit=10, length=12),
        InputError("bad_history", "x"),
    ],
)
def test_every_error_kind_has_its_own_message(error: LLMError | InputError) -> None:
    ja = error_message(error.kind, error.params, "ja")
    en = error_message(error.kind, error.params, "en")

    assert ja != en
    assert ja != translate("error.llm_error", "ja") or error.kind == "llm_error"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_model_that_cannot_fit_is_named_with_the_memory_it_needs(lang: str) -> None:
    params = {"model": "big:7b", "reason": "memory", "needed": "7.5 GiB", "available": "5.2 GiB"}

    said = error_message("model_cannot_load", params, lang)

    assert "big:7b" in said
    assert "7.5 GiB" in said
    assert "5.2 GiB" in said
    assert said != error_message("model_cannot_load", {"model": "big:7b"}, lang)


@pytest.mark.parametrize("kind", ["prompt_too_long", "ended_early", "model_cannot_load"])
def test_what_rephrasing_cannot_fix_never_says_rephrase(kind: str) -> None:
    said = error_message(kind, {"model": "m:1"}, "en").lower()

    assert "rephrase" not in said
    assert "cannot be reached" not in said
    assert "connection dropped" not in said


def test_messages_name_what_to_change() -> None:
    assert "m:1" in error_message("model_not_found", {"model": "m:1"}, "en")
    too_long = error_message("invalid_request", {"reason": "message_too_long", "limit": 10}, "ja")
    assert "10" in too_long


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "ja"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,fr;q=0.9", "ja"),
        ("en", "ja", "en"),
        ("ja", "en-US", "ja"),
        ("xx", "en", "en"),
    ],
)
def test_switch_then_browser_then_default(
    cookie: str | None, accept: str | None, expected: str
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    if cookie:
        headers["Cookie"] = f"{LANG_COOKIE}={cookie}"
    with Flask(__name__).test_request_context(headers=headers) as ctx:
        assert pick_language(ctx.request, "ja") == expected
