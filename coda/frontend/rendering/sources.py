"""What an answer shows of the knowledge base: whether it was searched, the passages sent to the
model (file, heading path or page, a short excerpt), numbered as the model saw them, and the
answer's `[n]` markers turned into links to them.

Passages are untrusted text (anyone may have written the documents): the template escapes them,
and the links are added to the answer's HTML after nh3 has sanitized it, only in its text (never
inside a tag, a link or code), only for numbers that exist, with an href of our own making. The
sanitizer's allow-list stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

from coda.llm import Source

# How the knowledge base served a turn: its passages were sent (`used`), none scored high enough
# (`none`), or it could not be searched and the answer went on without it (`failed`); or no
# knowledge base was searched, and only attached files were sent (`attached`).
KNOWLEDGE_STATES = ("used", "none", "failed", "attached")
EXCERPT_CHARS = 240
# A tag in the sanitized HTML: nh3 writes every attribute value in double quotes, with `"` as
# `&quot;` inside, but may leave a `>` in it; so a quoted value is skipped whole. Possessive
# throughout, each step consuming what the next cannot: linear.
_TAG = re.compile(r'<[^>"]*+(?:"[^"]*+"[^>"]*+)*+>')
_TAG_NAME = re.compile(r"</?([a-z0-9]+)")
_MARKER = re.compile(r"\[([0-9]{1,2})\]")
# Text inside these is shown as written: a link's own text, and code.
_LITERAL = frozenset({"a", "code", "pre"})


@dataclass(frozen=True)
class ShownSource:
    """One passage as the list under the answer shows it and the browser saves it."""

    path: str
    heading: str = ""
    page: int | None = None
    excerpt: str = ""

    def fields(self) -> dict[str, object]:
        """What the `done` event carries and `/conversation` reads back."""
        return {
            "path": self.path,
            "heading": self.heading,
            "page": self.page,
            "excerpt": self.excerpt,
        }


@dataclass(frozen=True)
class Knowledge:
    """How an answer used the knowledge base (`KNOWLEDGE_STATES`), the passages it was given, in
    their numbers' order, and how many the search found (some may not have fit)."""

    state: str
    sources: tuple[ShownSource, ...] = ()
    found: int = 0
    # Attached files sent whole, and those too long for it, of which only passages went.
    files: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()

    def fields(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "knowledge": self.state,
            "sources": [s.fields() for s in self.sources],
        }
        if self.files:
            fields["files"] = list(self.files)
        if self.partial:
            fields["partial"] = list(self.partial)
        return fields


def shown(source: Source) -> ShownSource:
    """A found passage as listed: its heading path joined, its text's start on one line."""
    excerpt = " ".join(source.text.split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[: EXCERPT_CHARS - 1].rstrip() + "…"
    heading = " › ".join(source.heading)
    return ShownSource(source.path, heading, source.page, excerpt)


def source_anchor(bubble_id: str, number: int) -> str:
    """The id of the `number`th passage's line under the answer `bubble_id`."""
    return f"{bubble_id}-source-{number}"


def link_citations(html: Markup, bubble_id: str, count: int) -> Markup:
    """The answer's `[n]`, for 1 ≤ n ≤ `count`, as links to its passages' lines. `html` is what
    nh3 returned; one linear pass over it."""
    if not count or not bubble_id:
        return html

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= count:
            return match.group(0)
        anchor = source_anchor(bubble_id, number)
        return f'<a class="citation" href="#{anchor}">[{number}]</a>'

    pieces: list[str] = []
    literal = 0  # how many `a`, `code` or `pre` elements are open here
    position = 0
    for tag in _TAG.finditer(html):
        pieces.append(_linked(html[position : tag.start()], literal, link))
        pieces.append(tag.group(0))
        position = tag.end()
        name = _TAG_NAME.match(tag.group(0))
        if name and name.group(1) in _LITERAL:
            literal = max(0, literal + (-1 if tag.group(0).startswith("</") else 1))
    pieces.append(_linked(html[position:], literal, link))
    return Markup("".join(pieces))  # noqa: S704 - sanitized HTML plus links of our own making


def _linked(text: str, literal: int, link: Callable[[re.Match[str]], str]) -> str:
    if literal > 0 or "[" not in text:
        return text
    return _MARKER.sub(link, text)
