"""A turn's settings and kind: the preset builds the system prompt from the fields it declares,
values out of range are refused (never clamped), and asking again changes what is asked."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from coda.config import Settings
from coda.config.presets import shipped_presets
from coda.frontend.reading.posted_turn import InputError, ModelMenu, PostedTurn, read_turn
from coda.infrastructure.bootstrap import generation_options
from coda.llm import Role
from tests.support.settings import PROMPT_LIMITS

MODELS = ModelMenu("a:1", ("a:1",))
PRESETS = shipped_presets()
CODE = "def f(x):\n    return eval(x)\n"


def turn(**form: str) -> PostedTurn:
    return read_turn(form, "SERVER PROMPT", PROMPT_LIMITS, MODELS, presets=PRESETS)


def refusal(**form: str) -> InputError:
    with pytest.raises(InputError) as caught:
        turn(**form)
    return caught.value


def test_no_preset_is_the_general_assistant_with_the_servers_prompt() -> None:
    posted = turn(message="hi")

    assert posted.preset == "general"
    assert posted.prompt[0].content == "SERVER PROMPT"
    assert posted.temperature is None
    assert posted.max_tokens is None


def test_code_review_builds_the_prompt_from_the_chosen_levels_and_asks_with_the_code() -> None:
    posted = turn(
        preset="code-review",
        message="見てください",
        **{"field.language": "go", "field.strictness": "high", "field.code": CODE},
    )

    system, question = posted.prompt[0], posted.prompt[-1]
    review = PRESETS.get("code-review")
    assert review is not None
    strict = review.field("strictness")
    assert strict is not None
    high = strict.choice("high")
    assert high is not None
    assert system.role is Role.SYSTEM
    assert " Go " in system.content
    assert high.text in system.content
    assert CODE.strip() not in system.content  # what the user typed never reaches the system prompt
    assert question.content.startswith("見てください")
    assert CODE.strip() in question.content
    assert posted.message == question.content  # the bubble shows what the model was asked
    assert posted.temperature == review.temperature


def test_the_code_box_alone_is_a_question() -> None:
    posted = turn(preset="code-review", **{"field.code": CODE})

    assert CODE.strip() in posted.prompt[-1].content


def test_a_system_prompt_sent_by_the_page_is_ignored() -> None:
    posted = turn(message="hi", system="FORGED", **{"field.system": "FORGED"})

    assert all("FORGED" not in m.content for m in posted.prompt)


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"preset": "root"}, "unknown_preset"),
        ({"preset": "code-review", "field.strictness": "extreme"}, "bad_choice"),
        ({"preset": "code-review", "field.language": "<b>x</b>"}, "bad_choice"),
        ({"preset": "code-review", "field.code": "x" * 12001}, "field_too_long"),
        ({"temperature": "2.5"}, "bad_temperature"),
        ({"temperature": "-0.1"}, "bad_temperature"),
        ({"temperature": "nan"}, "bad_temperature"),
        ({"temperature": "hot"}, "bad_temperature"),
        ({"max_tokens": "0"}, "bad_max_tokens"),
        ({"max_tokens": str(PROMPT_LIMITS.max_tokens + 1)}, "bad_max_tokens"),
        ({"max_tokens": "1.5"}, "bad_max_tokens"),
        ({"mode": "delete"}, "bad_mode"),
        ({"mode": "regenerate"}, "nothing_to_redo"),
        ({"mode": "continue"}, "nothing_to_redo"),
    ],
)
def test_values_out_of_range_are_refused_not_clamped(form: dict[str, str], reason: str) -> None:
    assert refusal(message="hi", **form).reason == reason


def test_the_chosen_temperature_and_length_reach_the_options_and_the_history_budget() -> None:
    configured = generation_options(Settings())

    posted = turn(message="hi", temperature="1.3", max_tokens="64")

    options = posted.options(configured)
    assert (options.temperature, options.max_tokens) == (1.3, 64)
    assert options.top_p == configured.top_p
    assert turn(message="hi").options(configured) == configured


def test_a_field_label_is_named_in_the_pages_language() -> None:
    from coda.frontend.i18n import error_message

    error = refusal(preset="code-review", **{"field.code": "x" * 12001})

    assert "「コード」" in error_message(error.kind, error.params, "ja")
    assert "“Code”" in error_message(error.kind, error.params, "en")


HISTORY = [
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": "answer one"},
    {"role": "user", "content": "second"},
    {"role": "assistant", "content": "cut off mid"},
]


def test_regenerate_asks_the_last_question_again_without_its_old_answer() -> None:
    posted = turn(mode="regenerate", message="ignored", history=json.dumps(HISTORY[:3]))

    assert [m.content for m in posted.prompt[1:]] == ["first", "answer one", "second"]
    assert posted.message == "second"


def test_continue_asks_for_the_rest_of_the_cut_answer_and_extends_it() -> None:
    posted = turn(mode="continue", history=json.dumps(HISTORY))

    assert posted.prompt[-2].content == "cut off mid"
    assert posted.prompt[-1].role is Role.USER
    assert posted.answer_so_far == "cut off mid"
    assert posted.message == ""  # no question bubble


def test_edit_sends_the_question_as_written_in_place_of_the_last_one() -> None:
    long_question = "q" * (PROMPT_LIMITS.max_message_chars + 50)  # as long as history allows

    posted = turn(mode="edit", message=long_question, history=json.dumps(HISTORY[:2]))

    assert posted.prompt[-1].content == long_question
    assert [m.content for m in posted.prompt[1:-1]] == ["first", "answer one"]


def test_turns_left_out_count_what_the_page_and_the_budget_dropped() -> None:
    limits = replace(PROMPT_LIMITS, max_history_messages=2)
    form = {"message": "third", "history": json.dumps(HISTORY), "earlier": "6"}

    posted = read_turn(form, "s", limits, MODELS, presets=PRESETS)

    assert [m.content for m in posted.prompt[1:-1]] == ["second", "cut off mid"]
    assert posted.left_out == 6 + 2
    assert turn(message="x", history=json.dumps(HISTORY)).left_out == 0
    assert refusal(message="x", earlier="-1").reason == "bad_history"
