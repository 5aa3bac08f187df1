"""The depth pre-check reads JSON as the parser will: brackets in strings never count."""

from __future__ import annotations

import pytest

from coda.frontend.reading.posted_json import json_depth, read_json
from coda.frontend.reading.posted_turn import InputError


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        ('[[["a"]]]', 3),
        ('["[[[["]', 1),
        ('[{"a": "\\\\"}, [[]]]', 3),
        ('{"a": "b\\\\\\"[["}', 1),
        ('"\\"[[["', 0),
        ("[[[[", 4),
        ("[]]][[[[", 1),  # a bracket closing nothing ends the scan: the parser refuses it anyway
        ('["' + '\\"' * 20_000, 1),  # issue 17: an unterminated string is one string to the end
        ('["' + "\\" * 20_001, 1),
        ('["a\n[[[["]', 1),  # a raw newline is invalid JSON, but still inside the string
    ],
)
def test_depth_counts_brackets_outside_strings(raw: str, depth: int) -> None:
    assert json_depth(raw, 10) == depth


def test_the_count_stops_one_past_the_limit() -> None:
    assert json_depth("[" * 1_000_000, 3) == 4


def test_issue_17s_unterminated_string_is_refused_as_invalid_json() -> None:
    with pytest.raises(InputError) as refused:
        read_json('["' + '\\"' * 20_000, 2)
    assert refused.value.detail == "not valid JSON"


def test_deep_nesting_is_refused_before_the_parser() -> None:
    with pytest.raises(InputError) as refused:
        read_json("[" * 100_000 + "]" * 100_000, 2)
    assert "deeper than 2" in refused.value.detail
