"""Sections cut into passages the size an embedding model reads well, along the text's own
joints: headings first (a passage never spans two), then paragraphs, then sentences, ending at
Japanese `。！？` as at `.!?` followed by a space; only a sentence longer than a passage is cut
mid-way. Each step is one pass over the text (no backtracking pattern), so a hostile file costs
time in proportion to its size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from coda.knowledge.documents import Section

# A Japanese full stop ends a sentence wherever it stands; a Latin one only before a space (or
# the end), so "3.14" and "e.g.x" stay whole.
SENTENCE_END = re.compile(r"[。！？!?]+[」』）)]*|[.!?](?=\s|$)")
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
DEFAULT_MAX_CHARS = 800


@dataclass(frozen=True)
class Passage:
    """One chunk of a document as it is embedded and shown: its text, the heading path it sits
    under and its page (PDF)."""

    text: str
    heading: tuple[str, ...] = ()
    page: int | None = None


def passages(sections: Iterable[Section], max_chars: int = DEFAULT_MAX_CHARS) -> list[Passage]:
    """Every section cut into passages of at most `max_chars` characters, in document order;
    whitespace inside a passage is folded, blank passages dropped."""
    found: list[Passage] = []
    for section in sections:
        for text in pack(pieces(section.text, max_chars), max_chars):
            found.append(Passage(text, section.heading, section.page))
    return found


def pieces(text: str, max_chars: int) -> Iterator[str]:
    """The paragraphs of `text`, each longer one cut into sentences, each longer one cut."""
    for paragraph in PARAGRAPH_BREAK.split(text):
        folded = " ".join(paragraph.split())
        if not folded:
            continue
        if len(folded) <= max_chars:
            yield folded
            continue
        for sentence in sentences(folded):
            for start in range(0, len(sentence), max_chars):
                yield sentence[start : start + max_chars]


def sentences(text: str) -> Iterator[str]:
    """`text` cut after each sentence's end, the marks kept with their sentence."""
    start = 0
    for end in SENTENCE_END.finditer(text):
        piece = text[start : end.end()].strip()
        if piece:
            yield piece
        start = end.end()
    rest = text[start:].strip()
    if rest:
        yield rest


def pack(items: Iterable[str], max_chars: int) -> Iterator[str]:
    """Consecutive pieces joined while they fit in `max_chars`: paragraphs stay together where
    they can, so a passage is not one short line."""
    current = ""
    for item in items:
        joined = f"{current}\n{item}" if current else item
        if len(joined) <= max_chars:
            current = joined
            continue
        if current:
            yield current
        current = item
    if current:
        yield current
