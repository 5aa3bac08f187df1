"""Reading the files a turn carries: each attached file of the conversation, sent whole or as
the passages the page picked for the question (the browser keeps the file, the server nothing).

It is what the page posts, so it is checked like the rest of a turn: a bounded list of flat
objects, text within limits, nothing the model will not be sent. Where the passages came from is
the person's own file: the page chose them, and a page that chose badly only answers its own
question worse. The whole text is bounded by the context window (coda counts a token per byte at
most, so a longer text could never be sent).
"""

from __future__ import annotations

from dataclasses import dataclass

from coda.config.ranges import KNOWLEDGE_TOP_K
from coda.frontend.reading.input_error import InputError
from coda.frontend.reading.posted_json import clean_text, read_json
from coda.llm import PromptLimits, Source

# At most this many files per conversation (the page says so when one more is attached).
MAX_ATTACHMENTS = 4
MAX_PASSAGES = int(KNOWLEDGE_TOP_K.high)
MAX_NAME_CHARS = 255
MAX_PASSAGE_CHARS = 4000
MAX_HEADING_PARTS = 12
MAX_HEADING_CHARS = 500
MAX_PAGE = 1_000_000
# [{passages: [{heading: [...]}]}]: five levels
ATTACHMENTS_DEPTH = 5
FILE_KEYS = frozenset({"name", "text", "passages", "total"})
PASSAGE_KEYS = frozenset({"text", "heading", "page"})


@dataclass(frozen=True)
class PostedAttachment:
    """One attached file as a turn carries it: its `name`; its `whole` text, or the `passages`
    the page found nearest the question (best first) out of `total`."""

    name: str
    whole: str | None = None
    passages: tuple[Source, ...] = ()
    total: int = 0


def read_attachments(raw: str, limits: PromptLimits) -> tuple[PostedAttachment, ...]:
    """The posted `attachments` field (JSON, empty for none), or an `InputError`
    (`bad_attachment`) naming the rule it breaks."""
    if not raw.strip():
        return ()
    items = read_json(raw, ATTACHMENTS_DEPTH, reason="bad_attachment")
    if not isinstance(items, list) or len(items) > MAX_ATTACHMENTS:
        raise InputError("bad_attachment", f"attachments: not a list of at most {MAX_ATTACHMENTS}")
    return tuple(_attachment(item, index, limits) for index, item in enumerate(items))


def _attachment(item: object, index: int, limits: PromptLimits) -> PostedAttachment:
    where = f"attachments[{index}]"
    if not isinstance(item, dict) or set(item) - FILE_KEYS:
        raise InputError("bad_attachment", f"{where} is not a file object")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InputError("bad_attachment", f"{where}.name is not a short text")
    name = clean_text(name).strip()
    text = item.get("text")
    if text is not None:
        if not isinstance(text, str) or len(text) > limits.context_length:
            raise InputError("bad_attachment", f"{where}.text is not text within the context")
        return PostedAttachment(name, whole=clean_text(text))
    passages = item.get("passages")
    total = item.get("total")
    if not isinstance(passages, list) or len(passages) > MAX_PASSAGES:
        raise InputError("bad_attachment", f"{where}.passages is not a list of {MAX_PASSAGES}")
    if not isinstance(total, int) or isinstance(total, bool) or not 0 <= total <= MAX_PAGE:
        raise InputError("bad_attachment", f"{where}.total is not a count")
    found = tuple(_passage(p, f"{where}.passages[{n}]", name) for n, p in enumerate(passages))
    return PostedAttachment(name, passages=found, total=max(total, len(found)))


def _passage(item: object, where: str, name: str) -> Source:
    if not isinstance(item, dict) or set(item) - PASSAGE_KEYS:
        raise InputError("bad_attachment", f"{where} is not a passage object")
    text, heading, page = item.get("text"), item.get("heading", []), item.get("page")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PASSAGE_CHARS:
        raise InputError("bad_attachment", f"{where}.text is not a passage's text")
    if (
        not isinstance(heading, list)
        or len(heading) > MAX_HEADING_PARTS
        or not all(isinstance(h, str) and len(h) <= MAX_HEADING_CHARS for h in heading)
    ):
        raise InputError("bad_attachment", f"{where}.heading is not a heading path")
    if page is not None and (
        not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE
    ):
        raise InputError("bad_attachment", f"{where}.page is not a page number")
    return Source(
        path=name,
        heading=tuple(clean_text(h) for h in heading),
        page=page,
        text=clean_text(text),
    )
