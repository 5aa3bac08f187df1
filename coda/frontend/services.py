"""What the views get from the composition root: one bundle, kept in `app.extensions["coda"]`,
holding just what they use (never the whole `Settings`, which holds secrets they never read)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from coda.config.presets import Presets
from coda.frontend.attachments import AttachmentReader, AttachmentRules, Embedding
from coda.frontend.reading.posted_turn import ModelMenu
from coda.frontend.streaming.draining import Draining
from coda.llm import ChatModel, GenerationOptions, KnowledgeBase, PromptLimits

if TYPE_CHECKING:  # admission reads the catalogue, which reads these services
    from coda.frontend.admission import Gate

EXTENSION_KEY = "coda"


# Streams open on one worker beyond which live formatting slows down in proportion: at 25 each
# answer is formatted at the set pace, at 250 ten times less often.
STRETCH_FROM_STREAMS = 25


@dataclass(frozen=True)
class Pacing:
    """How long the model may be silent before a heartbeat, and before the loading notice; how
    often a streaming answer is formatted (0: never, raw text until the final render)."""

    heartbeat_seconds: float
    notice_seconds: float
    live_format_seconds: float = 0.0

    def format_interval(self, streams: int) -> float:
        """Seconds between two formattings of one answer while `streams` answers stream on the
        worker: the set pace, stretched so the total stays that of `STRETCH_FROM_STREAMS`."""
        return self.live_format_seconds * max(1.0, streams / STRETCH_FROM_STREAMS)


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything a chat view uses, built once by `create_app`; the views never build any of it."""

    # The default model; a turn asks `chat_model.with_model(...)` for the one it chose.
    chat_model: ChatModel
    # What a knowledge preset's turn searches (None: no index), and the passages' share of the
    # context in tokens (coda's upper bound), taken before history.
    knowledge: KnowledgeBase | None
    knowledge_tokens: int
    models: ModelMenu
    options: GenerationOptions
    limits: PromptLimits
    pacing: Pacing
    draining: Draining
    # Whether a turn may start now (the limits); an open gate when none are set.
    gate: Gate
    system_prompt: str
    presets: Presets
    default_language: str
    model_notice: str
    sign_out_link: str
    max_body_bytes: int
    # Thinking models asked to answer without reasoning first (CODA_NO_THINKING_MODELS).
    no_thinking_models: tuple[str, ...]
    # Attached files: how they are read, what embeds a long one and its questions (None: no
    # embedding model, so a file too long to send whole is refused), the largest one in bytes
    # and what the browser may keep of them (`CODA_ATTACHMENT_*`).
    read_attachment: AttachmentReader | None = None
    embedding: Embedding | None = None
    attachment_max_bytes: int = 0
    attachment_storage_bytes: int = 0
    knowledge_top_k: int = 4
    knowledge_min_score: float = 0.3

    @property
    def attachment_rules(self) -> AttachmentRules | None:
        """What the page is told of attaching (None: it offers none)."""
        if self.read_attachment is None:
            return None
        return AttachmentRules(
            max_bytes=self.attachment_max_bytes,
            storage_bytes=self.attachment_storage_bytes,
            top_k=self.knowledge_top_k,
            min_score=self.knowledge_min_score,
        )


def services() -> Services:
    """The app's services; fails loudly when the app was not built by `create_app`."""
    registered = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(registered, Services):  # not an assert: python -O must not silence it
        raise RuntimeError("the chat blueprint needs an app built by coda's create_app()")
    return registered
