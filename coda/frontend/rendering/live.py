"""An answer formatted while it streams: finished blocks sent once, the last block re-rendered.

The final render (`render_markdown` of the whole text) stays the reference; live formatting is a
view of the same text that the page can show before the answer ends. Markdown is read in
top-level blocks (a heading, a paragraph, a list, a table, a code block): once a block is followed
by the start of another, no later text can change it, so it is rendered, sanitized and sent once.
Only the last block, which the next characters may still change (a paragraph that becomes a
table, a fence not yet closed), is rendered again on each update, without highlighting until its
code block closes. Each piece is a complete fragment rendered from its own slice of the text and
cleaned on its own: the page never receives HTML joined from pieces.

What later text can still change, and the final render then corrects: a link whose reference
definition comes after it (`[a]` ... `[a]: https://...`). Definitions that come first are kept.

Rendering runs under the same time budget as the final render; an answer whose last block runs
over it is shown from there on as escaped text, which is linear, until the final render.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from markdown_it.token import Token
from markupsafe import Markup

from coda.frontend.rendering.markdown import (
    RENDER_BUDGET_SECONDS,
    plain_text,
    prepare_highlighting,
    renderer,
    sanitize,
    unhighlighted_renderer,
)
from coda.frontend.rendering.time_budget import within_budget

# markdown-it's own input normalization: line breaks to `\n`, NUL to U+FFFD. Applied before the
# text is cut into blocks, so that the parser's line numbers are the text's.
_LINE_BREAKS = re.compile(r"\r\n?")


def normalized(text: str) -> str:
    return _LINE_BREAKS.sub("\n", text).replace("\0", "\ufffd")


@dataclass(frozen=True)
class LiveUpdate:
    """What changed since the last update: blocks finished since then (sanitized, in order, each
    to be added once before the last block) and the last block (`None`: as last sent)."""

    finished: tuple[Markup, ...]
    last: Markup | None


class LiveAnswer:
    """One streaming answer's formatted view; `update` it with the whole text so far.

    Not thread-safe: one turn's generator owns it.
    """

    def __init__(self, *, copy_label: str) -> None:
        self.copy_label = copy_label
        self.done = 0  # characters of the normalized text that finished blocks hold
        self.plain = False  # a render ran over its budget: escaped text from here on
        self._env: MutableMapping[str, Any] = {}  # reference definitions seen so far
        self._last: Markup | None = None

    def update(self, text: str, *, final: bool = False) -> LiveUpdate:
        """The blocks `text` finishes and its last block; `final` renders the last block as the
        finished answer would (highlighted), for a text that will not grow.

        `text` must extend the text of the previous update.
        """
        source = normalized(text)
        finished: tuple[Markup, ...] = ()
        if not self.plain:
            prepare_highlighting()  # outside the budget: only the very first call compiles
            split = within_budget(
                RENDER_BUDGET_SECONDS, lambda: self._split(source, final=final), lambda: None
            )
            if split is None:
                self.plain = True
            else:
                finished, last = split
        if self.plain:
            last = Markup(plain_text(source[self.done :]))  # noqa: S704 - escaped
        if last == self._last:
            return LiveUpdate(finished, None)
        self._last = last
        return LiveUpdate(finished, last)

    def _split(self, source: str, *, final: bool) -> tuple[tuple[Markup, ...], Markup]:
        """Blocks finished by `source`, and its last block.

        Which blocks are finished is read from the complete lines only: a line still being
        written can parse as the start of a block ("*" as a list item) and end as the
        continuation of the one before ("**bold**").
        """
        rest = source[self.done :]
        complete = rest if final else rest[: rest.rfind("\n") + 1]
        tokens = renderer().parse(complete, self._env)
        starts = [i for i, token in enumerate(tokens) if token.level == 0 and token.nesting >= 0]
        if not starts:
            return (), self._last_block(rest)
        last_start = starts[-1]
        if final or _closed_fence(tokens[last_start], complete):
            last_start = len(tokens)
        ends = [*starts[1:], len(tokens)]
        finished = tuple(
            self._render(tokens[a:b]) for a, b in zip(starts, ends, strict=True) if a < last_start
        )
        if last_start < len(tokens):
            first_line = tokens[last_start].map
            self.done += _line_offset(complete, first_line[0] if first_line else 0)
        else:
            self.done += len(complete)
        return finished, self._last_block(source[self.done :])

    def _last_block(self, rest: str) -> Markup:
        """The text after the finished blocks, its code not yet highlighted."""
        if not rest:
            return Markup("")
        plain = unhighlighted_renderer()
        tokens = plain.parse(rest, self._env)
        html = plain.renderer.render(tokens, plain.options, self._env)
        return sanitize(html, copy_label=self.copy_label)

    def _render(self, tokens: list[Token]) -> Markup:
        md = renderer()
        html = md.renderer.render(tokens, md.options, self._env)
        return sanitize(html, copy_label=self.copy_label)


def _closed_fence(token: Token, source: str) -> bool:
    """Whether a fenced code block has its closing line, and that line has ended: no later text
    can change it, so it is finished and highlighted now."""
    if token.type != "fence" or token.map is None or not source.endswith("\n"):
        return False
    first, end = token.map
    lines = source.split("\n")
    if end - 1 <= first or end - 1 >= len(lines):
        return False
    closing = lines[end - 1].strip()
    fence = token.markup[0]
    return len(closing) >= len(token.markup) and closing == fence * len(closing)


def _line_offset(source: str, line: int) -> int:
    """Where line `line` (from 0) of `source` starts."""
    at = 0
    for _ in range(line):
        at = source.index("\n", at) + 1
    return at
