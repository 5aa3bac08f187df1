"""The usage line under an answer: the model that answered, whose figure the speed is, and
whether the answer offers to be continued."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coda.frontend.rendering.bubbles import finished_bubble, usage_line
from coda.llm import SpeedSource, TokenSource, Usage

USAGE = Usage(
    model="tinyswallow:1.5b",
    prompt_tokens=12,
    completion_tokens=30,
    tokens_per_second=41.27,
    load_seconds=None,
    total_seconds=1.0,
    done_reason="stop",
)


@pytest.mark.parametrize(
    ("source", "lang", "said"),
    [
        (SpeedSource.SERVER, "ja", "41.3 トークン/秒（サーバー計測）"),
        (SpeedSource.MEASURED, "ja", "41.3 トークン/秒（coda 計測）"),
        (SpeedSource.SERVER, "en", "41.3 tokens/s (server's figure)"),
        (SpeedSource.MEASURED, "en", "41.3 tokens/s (measured by coda)"),
    ],
)
def test_the_line_says_whose_figure_the_speed_is(source: SpeedSource, lang: str, said: str) -> None:
    line = usage_line(replace(USAGE, speed_source=source), lang)

    assert line.startswith("tinyswallow:1.5b · ")
    assert line.endswith(said)


def test_no_speed_claims_no_source_and_a_cut_answer_says_so() -> None:
    line = usage_line(replace(USAGE, tokens_per_second=None, done_reason="length"), "en")

    assert "– tokens/s (cut at the length limit)" in line
    assert "figure" not in line
    assert "measured" not in line


@pytest.mark.parametrize(
    ("state", "done_reason", "text", "offers"),
    [
        ("done", "length", "前半", ("continue",)),
        ("done", "stop", "前半", ()),
        ("done", "length", "  ", ()),
        ("stopped", None, "前半", ("continue",)),
        ("error", None, "前半", ("continue",)),
        ("interrupted", None, "前半", ("continue",)),
        ("error", None, "", ()),
        ("stopped", None, " \n", ()),
    ],
)
def test_an_answer_with_text_that_did_not_finish_offers_to_continue(
    state: str, done_reason: str | None, text: str, offers: tuple[str, ...]
) -> None:
    meta = "" if done_reason is None else usage_line(replace(USAGE, done_reason=done_reason), "ja")

    bubble = finished_bubble(role="assistant", text=text, state=state, lang="ja", meta=meta)

    assert bubble.offers == offers
    assert bubble.meta == str(meta)


def test_a_question_never_offers_to_continue() -> None:
    assert finished_bubble(role="user", text="q", state="stopped", lang="ja").offers == ()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_estimated_counts_are_labelled_as_estimates(lang: str) -> None:
    estimated = usage_line(replace(USAGE, token_source=TokenSource.ESTIMATED), lang)
    counted = usage_line(USAGE, lang)

    assert estimated.startswith(counted)
    assert len(estimated) > len(counted)
