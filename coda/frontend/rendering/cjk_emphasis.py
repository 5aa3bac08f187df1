"""Emphasis that opens and closes next to Japanese, Chinese and Korean punctuation.

CommonMark decides whether a run of `*`, `_` or `~` may open or close by looking at the
character on each side of it. A run with punctuation on its inside and a letter on its outside
counts as neither, which is right for `a**"b"**c` in English and wrong for every Japanese label
and quotation: in `**注意：**入力は必須です。` the closing `**` has `：` inside and `入` outside, so
the reader sees the asterisks. CJK text has no spaces between words to tell the parser where a
run stands, so the rule needs to know which neighbours are CJK.

This plugin applies the amendment proposed for CommonMark (the "CJK-friendly" amendments, the
rule set of the markdown-it-cjk-friendly family of plugins): punctuation that is itself a CJK
character no longer blocks a run, and a CJK character beside a run counts as punctuation where
that helps the run flank. With no CJK character or variation selector beside a run, the
amended rule reduces to CommonMark's, so other text renders exactly as before; the unit tests
check that on the spec's emphasis examples.

It wraps markdown-it's own `emphasis` and `strikethrough` rules rather than replacing them: the
upstream rule scans the run and records its delimiters, then only their open and close flags are
recomputed here. The extra work is a handful of Unicode look-ups per delimiter run, so rendering
stays linear in the text (untrusted model output goes through it, see `markdown.py`). Nothing is
patched globally: only the parser this plugin is used on changes.

Left out: the amendment's "CJK ambiguous punctuation sequences" (a quotation mark followed by the
fullwidth variation selector), which models do not write; such a mark counts as non-CJK.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_inline import emphasis, strikethrough
from markdown_it.rules_inline.state_inline import StateInline

InlineRule = Callable[[StateInline, bool], bool]

# Widths that mark a character as CJK (UAX #11: wide, fullwidth, halfwidth).
_CJK_WIDTHS = ("W", "F", "H")
# Below the CJK radicals, the wide characters are emoji (⌚, ⭐, ✅) but for two angle brackets;
# an emoji beside `**` should behave as it always did.
_CJK_RADICALS_START = 0x2E80
_WIDE_BRACKETS_BELOW_RADICALS = (0x2329, 0x232A)
# The emoji planes' blocks: all emoji, except the enclosed ideographs block, where only these are.
_EMOJI_BLOCKS = (0x1F000, 0x1FAFF)
_ENCLOSED_IDEOGRAPHS = (0x1F200, 0x1F2FF)
_EMOJI_ENCLOSED_IDEOGRAPHS = frozenset(
    {0x1F201, 0x1F21A, 0x1F22F, *range(0x1F232, 0x1F237), 0x1F238, 0x1F239, 0x1F23A}
    | {0x1F250, 0x1F251}
)
# Hangul is CJK whatever its width (its conjoining jamo are narrow).
_HANGUL_RANGES = (
    (0x1100, 0x11FF),
    (0x3130, 0x318F),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7AF),
    (0xD7B0, 0xD7FF),
    (0xFFA0, 0xFFDC),
)
# Variation selectors that may follow a CJK character or a punctuation mark (U+FE0F asks for
# the emoji form and is not one of them), and the ideographic ones (kanji variants).
_GENERAL_SELECTORS = (0xFE00, 0xFE0E)
_IDEOGRAPHIC_SELECTORS = (0xE0100, 0xE01EF)


def is_cjk(char: str) -> bool:
    """Whether `char` is a CJK character: wide, fullwidth or halfwidth and not an emoji, or Hangul.

    Kana, kanji, hanzi, hangul, and full-width punctuation such as `：「」（）。、` all are.
    """
    code = ord(char)
    if any(low <= code <= high for low, high in _HANGUL_RANGES):
        return True
    width = unicodedata.east_asian_width(char)
    if width not in _CJK_WIDTHS:
        return False
    if code < _CJK_RADICALS_START and width == "W":
        return code in _WIDE_BRACKETS_BELOW_RADICALS
    if _EMOJI_BLOCKS[0] <= code <= _EMOJI_BLOCKS[1]:
        in_enclosed = _ENCLOSED_IDEOGRAPHS[0] <= code <= _ENCLOSED_IDEOGRAPHS[1]
        return in_enclosed and code not in _EMOJI_ENCLOSED_IDEOGRAPHS
    return True


def _is_punctuation(char: str) -> bool:
    """CommonMark's Unicode punctuation: ASCII punctuation and the P and S categories."""
    return isMdAsciiPunct(ord(char)) or isPunctChar(char)


def _is_general_selector(char: str) -> bool:
    return _GENERAL_SELECTORS[0] <= ord(char) <= _GENERAL_SELECTORS[1]


def _flags(src: str, start: int, end: int, limit: int, *, underscore: bool) -> tuple[bool, bool]:
    """Whether the run `src[start:end]` can open and can close, by the amended flanking rules.

    The start and end of the text count as whitespace, as in CommonMark. A variation selector
    right before the run is looked through: what counts is the character it modifies.
    """
    before = src[start - 1] if start > 0 else " "
    after = src[end] if end < limit else " "
    base = before
    if _is_general_selector(before):
        base = src[start - 2] if start > 1 else " "

    before_space = isWhiteSpace(ord(before))
    before_punct = _is_punctuation(base)
    before_cjk = is_cjk(base)
    before_other_punct = before_punct and not before_cjk  # punctuation that still blocks
    before_ideographic_selector = (
        _IDEOGRAPHIC_SELECTORS[0] <= ord(before) <= _IDEOGRAPHIC_SELECTORS[1]
    )

    after_space = isWhiteSpace(ord(after))
    after_punct = _is_punctuation(after)
    after_cjk = is_cjk(after)
    after_other_punct = after_punct and not after_cjk

    left = not after_space and (
        not after_other_punct
        or before_space
        or before_other_punct
        or before_cjk
        or before_ideographic_selector
    )
    right = not before_space and (
        not before_other_punct or after_space or after_other_punct or after_cjk
    )
    if not underscore:
        return left, right
    # `_` must not open or close inside a word: CommonMark's rules 2, 3, 6 and 7, with a
    # variation selector looked through before the run.
    return left and (not right or before_punct), right and (not left or after_punct)


def _amended(rule: InlineRule) -> InlineRule:
    """`rule` (markdown-it's emphasis or strikethrough), its new delimiters' flags recomputed."""

    def amended_rule(state: StateInline, silent: bool) -> bool:
        start = state.pos
        first_new = len(state.delimiters)
        if not rule(state, silent):
            return False
        new = state.delimiters[first_new:]
        if not new:
            return True
        end = state.pos  # the rule consumed exactly the run
        before_code = ord(state.src[start - 1]) if start > 0 else 0x20
        after_code = ord(state.src[end]) if end < state.posMax else 0x20
        if before_code < 0x80 and after_code < 0x80:
            return True  # ASCII on both sides: CommonMark's answer stands
        can_open, can_close = _flags(
            state.src, start, end, state.posMax, underscore=state.src[start] == "_"
        )
        for delimiter in new:
            delimiter.open = can_open
            delimiter.close = can_close
        return True

    return amended_rule


def cjk_friendly_emphasis(md: MarkdownIt) -> None:
    """markdown-it plugin: `MarkdownIt(...).use(cjk_friendly_emphasis)`.

    Only this parser's rules change; rules that are disabled stay disabled.
    """
    md.inline.ruler.at("emphasis", _amended(emphasis.tokenize))
    md.inline.ruler.at("strikethrough", _amended(strikethrough.tokenize))
