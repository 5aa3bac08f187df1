"""The knowledge base at start: the index opened read-only, and refused unless it was built with
the embedding model configured (vectors from two models are not comparable: every search would
answer passages at random, silently)."""

from __future__ import annotations

from pathlib import Path

from coda.config import Settings, SettingsError
from coda.knowledge.index import IndexUnusable, KnowledgeIndex


def open_index(settings: Settings) -> KnowledgeIndex | None:
    """The index `CODA_KNOWLEDGE_INDEX` names, or None when it names none; raises
    `SettingsError` (start-up stops) when it is missing, unreadable, or built with another
    embedding model, saying to re-index."""
    if not settings.knowledge_index:
        return None
    try:
        index = KnowledgeIndex(Path(settings.knowledge_index))
    except IndexUnusable as exc:
        raise SettingsError([f"CODA_KNOWLEDGE_INDEX: {exc}"]) from exc
    built_with = index.info.embedding_model
    if built_with != settings.embedding_model:
        index.close()
        raise SettingsError(
            [
                f"CODA_KNOWLEDGE_INDEX was built with the embedding model {built_with!r}, but"
                f" CODA_EMBEDDING_MODEL is {settings.embedding_model!r}: re-index with"
                " `python -m coda.knowledge index DIR --out FILE`, or set the model it was"
                " built with"
            ]
        )
    return index
