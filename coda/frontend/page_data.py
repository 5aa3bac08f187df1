"""What the page's scripts are given: one JSON block in the chat page (`#coda-data`), so the
browser restates no rule the server holds.

It is data, not script (`<script type="application/json">`), so the strict CSP holds; the template
writes it with Jinja's `tojson`, which escapes `<`, `>`, `&` and `'`. The template reads the same
values for its own limits (the temperature's range, a title's length), so each has one source.
"""

from __future__ import annotations

from coda.config.ranges import TEMPERATURE
from coda.config.vocabulary import EXPORT_FORMAT, EXPORT_VERSION
from coda.frontend.attachments import AttachmentRules
from coda.frontend.i18n import phrase
from coda.frontend.reading.saved_conversation import MAX_TITLE_CHARS
from coda.frontend.rendering.bubbles import UNFINISHED_STATES
from coda.llm import PromptLimits

# The catalogue's strings the scripts show themselves, with their {placeholders} unfilled.
SCRIPT_STRINGS = (
    "untitled",
    "deleted",
    "no_conversations",
    "no_matches",
    "you",
    "assistant",
    "stopped",
    "connection_lost",
    "copied",
    "storage.full",
    "storage.unavailable",
    "storage.outdated",
    "hint",
    "hint_touch",
    "unreachable",
    "copy_failed",
    "attach.uploading",
    "attach.reading",
    "attach.whole",
    "attach.passages",
    "attach.remove",
    "attach.storage",
    "attach.storage_full",
    "attach.failed",
    "attach.too_many",
    "attach.model_changed",
    "attach.searching",
)

# The page calls a stream dead when nothing at all (text, a notice, a heartbeat) arrived for this
# many heartbeat periods, and never sooner than LOST_AFTER_MIN_SECONDS: a busy network or worker
# may hold one heartbeat back, not three.
MISSED_HEARTBEATS = 3
LOST_AFTER_MIN_SECONDS = 5.0

# How each kind of turn (`coda.config.vocabulary.TURN_MODES`) is posted, as
# `coda.frontend.reading.posted_turn` reads it: what the question is (`typed` in the message
# box, the `last` question asked again, or `none`), which of the conversation's turns go as
# history, and which turns the new ones replace once the answer starts.
ASK_AGAIN: dict[str, dict[str, str]] = {
    "new": {"question": "typed", "sends": "all", "replaces": "nothing"},
    "edit": {
        "question": "typed",
        "sends": "before_last_question",
        "replaces": "from_last_question",
    },
    "regenerate": {
        "question": "last",
        "sends": "through_last_question",
        "replaces": "from_last_question",
    },
    "continue": {"question": "none", "sends": "all", "replaces": "last_turn"},
}


def page_data(
    limits: PromptLimits,
    lang: str,
    *,
    heartbeat_seconds: float,
    attachments: AttachmentRules | None = None,
) -> dict[str, object]:
    """Everything the page's scripts and form need to know of the server's rules, in `lang`.

    `heartbeat_seconds` is the longest the stream stays silent (CODA_HEARTBEAT_SECONDS), from
    which the page knows when a silent stream is a dead one; `attachments` the rules for
    attached files (none: the page offers no attaching).
    """
    low, high = _number(TEMPERATURE.low), _number(TEMPERATURE.high)
    return {
        # The page sends the newest turns within these; the server refuses more.
        "history": {
            "max_messages": limits.max_history_messages,
            "max_chars": limits.max_history_chars,
        },
        "limits": {
            "temperature": {"low": low, "high": high},
            "max_tokens": limits.max_tokens,
            "title_chars": MAX_TITLE_CHARS,
        },
        "modes": ASK_AGAIN,
        # How an answer may end that the page marks itself (Stop, a lost connection) and still
        # offers to continue, as the server's bubbles do.
        "continue_after": sorted(UNFINISHED_STATES),
        "stream": {
            "heartbeat_seconds": heartbeat_seconds,
            "lost_after_seconds": max(
                MISSED_HEARTBEATS * heartbeat_seconds, LOST_AFTER_MIN_SECONDS
            ),
        },
        "export": {"format": EXPORT_FORMAT, "version": EXPORT_VERSION},
        "attachments": None if attachments is None else attachments.fields(),
        "strings": {key: phrase(key, lang) for key in SCRIPT_STRINGS},
    }


def _number(value: float) -> float | int:
    """2.0 as 2: the page shows the range as people write it."""
    return int(value) if value.is_integer() else value
