"""Attached files at the composition root: the upload reader (`document_reader`, a process of
its own per file, within `CODA_ATTACHMENT_*`), its sections cut into passages by the knowledge
base's chunker, and the larger body the upload route accepts."""

from __future__ import annotations

from collections.abc import Sequence

from coda.config import Settings
from coda.frontend.attachments import (
    AttachmentReader,
    AttachmentRefused,
    ReadAttachment,
    section_text,
)
from coda.frontend.streaming.tasks import pause
from coda.infrastructure.document_reader import UploadLimits, UploadRefused, read_upload
from coda.infrastructure.request_body import BodyRule
from coda.knowledge.chunks import DEFAULT_MAX_CHARS, pack, pieces
from coda.knowledge.documents import Section
from coda.llm import Source

MIB = 1 << 20
# Room beside the file for the multipart framing and the form's other fields.
FORM_OVERHEAD_BYTES = 64 * 1024
# The slowest upload a person should be able to finish: 10 MiB at about 1.5 Mbit/s.
MIN_UPLOAD_SECONDS = 60.0


def upload_limits(settings: Settings) -> UploadLimits:
    return UploadLimits(
        max_bytes=settings.attachment_max_mb * MIB,
        max_pages=settings.attachment_max_pages,
        seconds=settings.attachment_read_seconds,
    )


def attachment_body_rule(settings: Settings) -> BodyRule:
    """The upload's body: the file and its form, arriving within a minute per 10 MiB at least."""
    return BodyRule(
        limit=settings.attachment_max_mb * MIB + FORM_OVERHEAD_BYTES,
        timeout=max(
            settings.body_timeout_seconds,
            MIN_UPLOAD_SECONDS * max(1.0, settings.attachment_max_mb / 10),
        ),
    )


# Passages cut between two pauses for the worker's other greenlets (about 50,000 characters).
PASSAGES_PER_STEP = 64


def cut(name: str, sections: Sequence[Section]) -> tuple[Source, ...]:
    """The sections cut into passages (the knowledge base's chunker), on the worker's loop but a
    step at a time: two million characters are about a second of work, never held at once."""
    found: list[Source] = []
    for section in sections:
        for text in pack(pieces(section.text, DEFAULT_MAX_CHARS), DEFAULT_MAX_CHARS):
            found.append(Source(path=name, heading=section.heading, page=section.page, text=text))
            if len(found) % PASSAGES_PER_STEP == 0:
                pause()
        pause()
    return tuple(found)


def attachment_reader(settings: Settings) -> AttachmentReader:
    """What the upload route reads files with; raises `AttachmentRefused` with the reader's
    reason (`document_reader.UploadRefused`)."""
    limits = upload_limits(settings)

    def read(data: bytes, name: str) -> ReadAttachment:
        try:
            found = read_upload(data, name, limits)
        except UploadRefused as exc:
            raise AttachmentRefused(exc.reason, exc.detail, dict(exc.params)) from exc
        text = section_text([(s.text, s.heading, s.page) for s in found.sections])
        return ReadAttachment(
            kind=found.kind, pages=found.pages, text=text, passages=cut(name, found.sections)
        )

    return read
