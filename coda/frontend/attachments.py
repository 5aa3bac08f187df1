"""A file a person attaches to a conversation: read by the server, returned whole, kept nowhere.

The server reads the file (`AttachmentReader`, provided by the composition root: it parses in a
process of its own, within a time and memory budget), then decides how the model will see it:

- **whole**, when its text fits the context with a question (counted with coda's token upper
  bound, `estimate_tokens`): every later question of the conversation sends all of it, so a
  summary or a translation sees the whole file;
- **passages**, when it does not: its passages are embedded (`CODA_EMBEDDING_MODEL`), and the
  browser keeps their vectors; each question is embedded (`question_vector`), the browser picks
  the nearest passages and sends them, and the answer lists them. Without an embedding model a
  file too long to send whole is refused, saying so.

The browser keeps the result in IndexedDB with the conversation; the server keeps nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from coda.frontend.reading.posted_attachments import MAX_ATTACHMENTS
from coda.frontend.reading.posted_attachments import MAX_NAME_CHARS as MAX_NAME_CHARS
from coda.frontend.streaming.tasks import pause
from coda.llm import (
    EmbeddingModel,
    EmbeddingOptions,
    PromptLimits,
    Source,
    embed_passages,
    embed_query,
    estimate_tokens,
    history_budget,
)

ATTACHMENT_PATH = "/attachments"
QUESTION_PATH = "/attachments/question"
# Tokens (coda's upper bound) kept free for the question beside a file sent whole: a file that
# leaves less is read in passages instead.
QUESTION_RESERVE_TOKENS = 512


@dataclass(frozen=True)
class ReadAttachment:
    """A file as read: its kind (pdf, docx, markdown, text, html or code), a PDF's page count,
    its whole text (each section under a line naming its heading path or page) and its passages
    (`Source`, `path` the file's name), in document order."""

    kind: str
    pages: int | None
    text: str
    passages: tuple[Source, ...]


@dataclass(eq=False)
class AttachmentRefused(Exception):
    """A file that cannot be attached: `reason` keys its message (`error.attachment.<reason>`),
    `params` fill it in, `detail` is for the log only."""

    reason: str
    detail: str = ""
    params: dict[str, int | str] = field(default_factory=dict)


# (the file's bytes, its name) -> what it holds; raises `AttachmentRefused`.
AttachmentReader = Callable[[bytes, str], ReadAttachment]


@dataclass(frozen=True)
class Embedding:
    """The embedding model attachments are searched with: `model` for a file's passages (the
    server's usual time limits), `query_model` for a question (one short try, as the knowledge
    base's), and the model's prefixes and batch size."""

    model: EmbeddingModel
    query_model: EmbeddingModel
    options: EmbeddingOptions


def attachment_payload(
    name: str,
    read: ReadAttachment,
    *,
    system_prompt: str,
    limits: PromptLimits,
    embedding: Embedding | None,
) -> dict[str, object]:
    """What the browser keeps of an attached file (JSON): `name`, `kind`, `pages`, `chars`,
    `mode` (`whole` or `passages`), then `text` for a whole file, or `passages` ([{text,
    heading, page}]), `vectors` (base64 of little-endian float32, passages × `dimension`) and
    the embedding `model` for a long one.

    Raises `AttachmentRefused("too_long")` for a long file with no embedding model, and
    `coda.llm.LLMError` when embedding fails.
    """
    payload: dict[str, object] = {
        "name": name,
        "kind": read.kind,
        "pages": read.pages,
        "chars": len(read.text),
    }
    room = whole_room(system_prompt, limits)
    if estimate_tokens(read.text) <= room:
        return payload | {"mode": "whole", "text": read.text}
    if embedding is None:
        raise AttachmentRefused(
            "too_long",
            f"{len(read.text)} characters and no embedding model",
            {"chars": len(read.text), "limit": max(0, room) // 3},
        )
    texts = [p.text for p in read.passages]
    vectors = embed_passages(
        embedding.model, texts, embedding.options, on_batch=lambda _done: pause()
    )
    matrix = np.asarray(vectors, dtype="<f4")
    return payload | {
        "mode": "passages",
        "passages": [
            {"text": p.text, "heading": list(p.heading), "page": p.page} for p in read.passages
        ],
        "vectors": base64.b64encode(matrix.tobytes()).decode("ascii"),
        "dimension": int(matrix.shape[1]) if matrix.ndim == 2 else 0,
        "model": embedding.model.model,
    }


def whole_room(system_prompt: str, limits: PromptLimits) -> int:
    """The tokens (coda's upper bound) a file sent whole may cost: what the context leaves
    beside the system prompt, the answer and a question (`QUESTION_RESERVE_TOKENS`)."""
    return history_budget(system_prompt, "", limits) - QUESTION_RESERVE_TOKENS


def question_vector(question: str, embedding: Embedding) -> dict[str, object]:
    """A question's vector for the browser to rank a long file's passages by (JSON): `vector`
    (base64 float32), `dimension` and the `model`. Raises `coda.llm.LLMError`."""
    vector = np.asarray(
        embed_query(embedding.query_model, question, embedding.options), dtype="<f4"
    )
    return {
        "vector": base64.b64encode(vector.tobytes()).decode("ascii"),
        "dimension": int(vector.shape[0]),
        "model": embedding.model.model,
    }


def section_text(sections: Sequence[tuple[str, tuple[str, ...], int | None]]) -> str:
    """A file's whole text from its sections (text, heading path, page): each under a line that
    names where it is, so the model can say "section 3" or "page 12" as the file does."""
    parts: list[str] = []
    for text, heading, page in sections:
        if heading:
            parts.append(f"## {' › '.join(heading)}")
        elif page is not None:
            parts.append(f"--- p. {page} ---")
        parts.append(text.strip())
    return "\n\n".join(part for part in parts if part)


@dataclass(frozen=True, kw_only=True)
class AttachmentRules:
    """What the page needs to attach files: the largest file (bytes), what the browser may keep
    of them (bytes), the most per conversation, and for a long file's questions the passages to
    send (`top_k`) and the cosine each must reach (`min_score`)."""

    max_bytes: int
    storage_bytes: int
    top_k: int
    min_score: float

    def fields(self) -> dict[str, object]:
        return {
            "max_bytes": self.max_bytes,
            "storage_bytes": self.storage_bytes,
            "max_files": MAX_ATTACHMENTS,
            "top_k": self.top_k,
            "min_score": self.min_score,
        }
