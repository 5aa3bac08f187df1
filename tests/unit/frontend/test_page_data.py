"""The chat page hands its scripts one JSON block: the server's rules and the strings they show,
in the page's language, with nothing left in `data-text-*` attributes."""

from __future__ import annotations

import json

from flask import Flask, render_template_string
from flask.testing import FlaskClient

from coda.config.ranges import TEMPERATURE
from coda.config.vocabulary import EXPORT_FORMAT, EXPORT_VERSION
from coda.config.vocabulary import TURN_MODES as MODES
from coda.frontend.i18n import LANG_COOKIE, translate
from coda.frontend.page_data import ASK_AGAIN, SCRIPT_STRINGS, page_data
from coda.frontend.reading.saved_conversation import MAX_TITLE_CHARS
from tests.support.html import attr, one, parse
from tests.support.settings import PROMPT_LIMITS, WEB_SETTINGS


def page_block(client: FlaskClient) -> dict[str, object]:
    html = client.get("/").get_data(as_text=True)
    block = one(html, "script#coda-data")
    assert attr(block, "type") == "application/json"
    data: dict[str, object] = json.loads(block.get_text())
    return data


def test_every_mode_the_server_reads_is_described_for_the_page() -> None:
    assert set(ASK_AGAIN) == set(MODES)
    for described in ASK_AGAIN.values():
        assert described["question"] in {"typed", "last", "none"}
        assert described["sends"] in {"all", "before_last_question", "through_last_question"}
        assert described["replaces"] in {"nothing", "from_last_question", "last_turn"}


def test_the_block_holds_the_servers_rules(client: FlaskClient) -> None:
    data = page_block(client)

    assert data["history"] == {
        "max_messages": WEB_SETTINGS.max_history_messages,
        "max_chars": WEB_SETTINGS.max_history_chars,
    }
    assert data["modes"] == ASK_AGAIN
    assert data["continue_after"] == ["error", "interrupted", "stopped"]
    assert data["stream"] == {
        "heartbeat_seconds": WEB_SETTINGS.heartbeat_seconds,
        "lost_after_seconds": 5,
    }
    assert data["export"] == {"format": EXPORT_FORMAT, "version": EXPORT_VERSION}
    low, high = TEMPERATURE.low, TEMPERATURE.high
    assert data["limits"] == {
        "temperature": {"low": low, "high": high},
        "max_tokens": WEB_SETTINGS.max_tokens,
        "title_chars": MAX_TITLE_CHARS,
    }


def test_the_strings_are_in_the_pages_language_with_their_placeholders(
    client: FlaskClient,
) -> None:
    client.set_cookie(LANG_COOKIE, "en")

    strings = page_block(client)["strings"]

    assert isinstance(strings, dict)
    assert set(strings) == set(SCRIPT_STRINGS)
    assert strings["stopped"] == translate("stopped", "en")
    assert strings["deleted"] == "Deleted “{title}”."


def test_no_string_reaches_the_scripts_through_attributes(client: FlaskClient) -> None:
    page = parse(client.get("/").get_data(as_text=True))

    for element in page.find_all(True):
        # `data-text-field` marks a preset's text box; it carries no string.
        texts = [n for n in element.attrs if n.startswith("data-text-") and n != "data-text-field"]
        assert not texts, element.name


def test_the_form_reads_its_limits_from_the_same_data(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)

    temperature = one(html, "input#temperature")
    assert (attr(temperature, "min"), attr(temperature, "max")) == ("0", "2")
    assert one(html, "#temperature-hint").get_text() == "0〜2。高いほど自由な回答"
    title = parse(html).find("input", attrs={"name": "title"})  # inside <template>
    assert title is not None
    assert attr(title, "maxlength") == str(MAX_TITLE_CHARS)


def test_text_that_could_end_the_element_is_escaped() -> None:
    data = page_data(PROMPT_LIMITS, "ja", heartbeat_seconds=5)
    data["strings"] = {"stopped": "</script><script>alert(1)</script>"}

    with Flask(__name__).app_context():
        html = render_template_string(
            '<script type="application/json" id="coda-data">{{ data | tojson }}</script>', data=data
        )

    assert html.count("</script>") == 1
    assert json.loads(one(html, "script#coda-data").get_text())["strings"]["stopped"].startswith(
        "</script>"
    )


def test_the_page_knows_how_long_a_live_stream_may_be_silent() -> None:
    slow = page_data(PROMPT_LIMITS, "ja", heartbeat_seconds=5)["stream"]
    fast = page_data(PROMPT_LIMITS, "ja", heartbeat_seconds=0.5)["stream"]

    assert slow == {"heartbeat_seconds": 5, "lost_after_seconds": 15}
    # A few missed heartbeats, but never so soon that one late write ends a live answer.
    assert fast == {"heartbeat_seconds": 0.5, "lost_after_seconds": 5}
