"""The knowledge base at start: the index opened read-only, and refused unless it was built with
the embedding model configured (vectors from two models are not comparable: every search would
answer passages at random, silently); then what each turn of a knowledge preset searches. The
index is a file or a `postgresql://` URL (`coda.knowledge.store`); a URL's password is masked in
every message."""

from __future__ import annotations

from coda.config import Settings, SettingsError
from coda.infrastructure.bootstrap import build_embedding_model, embedding_options
from coda.knowledge.index import IndexUnusable
from coda.knowledge.retriever import IndexKnowledgeBase
from coda.knowledge.store import SearchIndex
from coda.knowledge.store import open_index as open_store


def open_index(settings: Settings) -> SearchIndex | None:
    """The index `CODA_KNOWLEDGE_INDEX` names, or None when it names none; raises
    `SettingsError` (start-up stops) when it is missing, unreadable (a server that cannot be
    reached within `CODA_KNOWLEDGE_TIMEOUT_SECONDS`), or built with another embedding model,
    saying to re-index."""
    if not settings.knowledge_index:
        return None
    try:
        index = open_store(settings.knowledge_index, timeout=settings.knowledge_timeout_seconds)
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


def open_knowledge_base(settings: Settings) -> IndexKnowledgeBase | None:
    """The index (`open_index`) with the embedding model that embeds each question, bounded by
    `CODA_KNOWLEDGE_TIMEOUT_SECONDS`; None without an index."""
    index = open_index(settings)
    if index is None:
        return None
    return IndexKnowledgeBase(
        index,
        build_embedding_model(settings, timeout=settings.knowledge_timeout_seconds),
        embedding_options(settings),
        top_k=settings.knowledge_top_k,
        min_score=settings.knowledge_min_score,
    )
