"""The low-level rules for text and JSON a page posts: what every reader of a form shares."""

from __future__ import annotations

import json
import re

from coda.frontend.reading.input_error import InputError
from coda.frontend.streaming.tasks import pause

# A JSON string, its closing quote optional, so that an unterminated string is one match to the
# end of the text instead of a new attempt at every later quote (which made the scan quadratic:
# 20,000 `\"` took 8 s). Possessive quantifiers leave the engine nothing to backtrack into, and
# `sub` starts each match where the last one ended, so every character is read once.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
# Brackets counted between two pauses for the other greenlets: about 5 ms of work.
_BRACKETS_PER_STEP = 65_536
# UTF-16 halves without their other half: JSON can carry them (`"\ud800"`), UTF-8 cannot, so the
# page could not be sent and the model server could not be asked. They become U+FFFD, as a browser
# shows broken text, rather than refusing the turn: the conversation stays usable.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text that UTF-8 can carry: lone surrogates become U+FFFD (see `_LONE_SURROGATE`)."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def json_depth(raw: str, limit: int) -> int:
    """How deeply `raw`'s arrays and objects nest, counting no further than `limit` + 1.

    Brackets inside strings do not count. Linear and non-recursive, as the parser it runs before:
    two regular-expression passes drop the strings and all but the brackets (1 MB: about 10 ms),
    then a loop reads the brackets, pausing for other greenlets every `_BRACKETS_PER_STEP`, and
    stops at the first one too deep or closing what was never opened (which the parser refuses).
    """
    structure = _NOT_BRACKET.sub("", _JSON_STRING.sub("", raw))
    depth = deepest = 0
    for start in range(0, len(structure), _BRACKETS_PER_STEP):
        if start:
            pause()
        for bracket in structure[start : start + _BRACKETS_PER_STEP]:
            if bracket in "[{":
                depth += 1
                if depth > limit:
                    return depth
            else:
                depth -= 1
                if depth < 0:
                    return deepest
            deepest = max(deepest, depth)
    return deepest


def read_json(raw: str, depth: int, *, reason: str = "bad_history", default: str = "[]") -> object:
    """Parsed JSON nesting at most `depth` levels, or an `InputError` with `reason`.

    Deeper nesting is refused before it is parsed, so a hostile `[[[[...` never reaches the JSON
    parser's recursion.
    """
    text = raw.strip() or default
    if json_depth(text, depth) > depth:
        raise InputError(reason, f"JSON nests deeper than {depth} levels")
    try:
        return json.loads(text)
    except ValueError:
        raise InputError(reason, "not valid JSON") from None


MAX_COUNT = 10**9


def read_count(raw: str, name: str) -> int:
    """A count the page keeps (turns left out, where): a whole number, empty meaning 0."""
    text = raw.strip() or "0"
    if not text.isascii() or not text.isdigit() or int(text) > MAX_COUNT:
        raise InputError("bad_history", f"{name} is not a count")
    return int(text)
