"""The low-level rules for text and JSON a page posts: what every reader of a form shares."""

from __future__ import annotations

import json
import re

from coda.frontend.input_error import InputError

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
# UTF-16 halves without their other half: JSON can carry them (`"\ud800"`), UTF-8 cannot, so the
# page could not be sent and the model server could not be asked. They become U+FFFD, as a browser
# shows broken text, rather than refusing the turn: the conversation stays usable.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text that UTF-8 can carry: lone surrogates become U+FFFD (see `_LONE_SURROGATE`)."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def json_depth(raw: str, limit: int) -> int:
    """How deeply `raw`'s arrays and objects nest, counting no further than `limit` + 1.

    Brackets inside strings do not count. Linear and non-recursive: it runs before the parser.
    """
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', raw)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
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
