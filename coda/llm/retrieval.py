"""Retrieval in a turn: what a knowledge base answers for a question, and how the passages it
found are placed in the user's turn. Standard library only, beside `prompt.py`.

The passages come from documents nobody vetted: a file may well say "ignore your instructions".
So they go in the user's turn, never the system prompt, as numbered data between two marker
lines that end in a random tag of the turn's own (a document cannot write the closing line it
would need to step out of the data), after an instruction that says they are data. Their cost is
counted with the same upper bound as every message (`estimate_tokens`) and taken before history:
passages that do not fit the budget are left out whole, and history is what gets trimmed, with
the notice the page shows for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from coda.llm.prompt import estimate_tokens

HEADING_SEPARATOR = " › "


@dataclass(frozen=True, kw_only=True)
class Source:
    """A passage found for a question: its file (relative to the indexed folder), its heading
    path or its page (a PDF's), its text and its cosine with the question."""

    path: str
    heading: tuple[str, ...] = ()
    page: int | None = None
    text: str
    score: float = 0.0

    @property
    def place(self) -> str:
        """Where in its file: the heading path, else the page, else nothing."""
        if self.heading:
            return HEADING_SEPARATOR.join(self.heading)
        return f"p. {self.page}" if self.page is not None else ""

    @property
    def label(self) -> str:
        """`file › heading › heading`, or `file › p. N`: how the model and the page name it."""
        return HEADING_SEPARATOR.join(part for part in (self.path, self.place) if part)


class KnowledgeBase(Protocol):
    """The knowledge base a turn may search; the composition root provides it (the index and the
    embedding model behind it), the frontend only asks."""

    def search(self, question: str) -> list[Source]:
        """The best passages for `question`, best first, each above the configured score.

        Raises `coda.llm.errors.LLMError` when the question cannot be embedded (the embedding
        server down, slow past its timeout, or serving no embeddings).
        """
        ...


@dataclass(frozen=True, kw_only=True)
class SourcesFrame:
    """The words around the passages, in the page's language: `instruction` (with `{open}` and
    `{close}`, the marker lines) and `question` (with `{question}`); `tag` is the turn's own."""

    instruction: str
    question: str
    tag: str
    # Before files sent whole (with `{open}` and `{close}`, their marker lines).
    files_instruction: str = ""

    @property
    def open(self) -> str:
        return f"<<<sources-{self.tag}>>>"

    @property
    def close(self) -> str:
        return f"<<</sources-{self.tag}>>>"

    @property
    def file_open(self) -> str:
        return f"<<<file-{self.tag}>>>"

    @property
    def file_close(self) -> str:
        return f"<<</file-{self.tag}>>>"


@dataclass(frozen=True)
class WholeFile:
    """A file a person attached, sent whole: its name and its text."""

    name: str
    text: str


def question_with_sources(
    question: str,
    sources: Sequence[Source],
    frame: SourcesFrame,
    files: Sequence[WholeFile] = (),
) -> str:
    """The user's turn: each file sent whole between its own marker lines after the files'
    instruction, then the instruction and the numbered passages between the markers, then the
    question. Without files or passages, the question as it was."""
    if not sources and not files:
        return question
    parts: list[str] = []
    if files:
        parts.append(frame.files_instruction.format(open=frame.file_open, close=frame.file_close))
        parts.extend(
            f"{frame.file_open} {file.name}\n{file.text.strip()}\n{frame.file_close}"
            for file in files
        )
    if sources:
        blocks = "\n\n".join(
            f"[{number}] {source.label}\n{source.text.strip()}"
            for number, source in enumerate(sources, start=1)
        )
        parts.append(frame.instruction.format(open=frame.open, close=frame.close))
        parts.append(f"{frame.open}\n{blocks}\n{frame.close}")
    parts.append(frame.question.format(question=question))
    return "\n\n".join(parts)


def fit_sources(
    question: str,
    sources: Sequence[Source],
    frame: SourcesFrame,
    budget: int,
    files: Sequence[WholeFile] = (),
) -> list[Source]:
    """The passages, best first, that fit `budget` tokens beyond the cost of the question and
    the `files` sent whole; a passage that does not fit is left out whole (never cut in the
    middle of a sentence), and a shorter one after it may still fit. At most 20 tries per
    source list (the posted and searched ones are bounded), each linear in the text."""
    alone = estimate_tokens(question_with_sources(question, [], frame, files))
    kept: list[Source] = []
    for source in sources:
        trial = question_with_sources(question, [*kept, source], frame, files)
        if estimate_tokens(trial) - alone <= budget:
            kept.append(source)
    return kept
