"""The knowledge base a turn searches: the question embedded (with the model's query prefix), the
index searched, the passages above the score kept; `coda.llm.KnowledgeBase` for the frontend.

With the file, the search is an exact dot product on the worker's event loop: 20-36 ms at 100,000
passages on shared cores (docs/knowledge.md), once per question of a knowledge preset. That holds
every other answer on the worker as long, which is acceptable at that size; past it, the search
belongs in PostgreSQL (`coda.knowledge.postgres`), where the greenlet waits on a socket as for the
embedding.
"""

from __future__ import annotations

from coda.knowledge.store import SearchIndex
from coda.llm import EmbeddingModel, EmbeddingOptions, Source, embed_query


class IndexKnowledgeBase:
    """An opened index and the embedding model it was built with, searched for `top_k` passages
    scoring at least `min_score`."""

    def __init__(
        self,
        index: SearchIndex,
        model: EmbeddingModel,
        options: EmbeddingOptions,
        *,
        top_k: int,
        min_score: float,
    ) -> None:
        self._index = index
        self._model = model
        self._options = options
        self._top_k = top_k
        self._min_score = min_score

    def search(self, question: str) -> list[Source]:
        """See `coda.llm.KnowledgeBase.search`; raises `LLMError` when the embedding or the
        index's server fails or is slower than its timeout."""
        vector = embed_query(self._model, question, self._options)
        hits = self._index.search(vector, top_k=self._top_k, min_score=self._min_score)
        return [
            Source(
                path=hit.path,
                heading=hit.passage.heading,
                page=hit.passage.page,
                text=hit.passage.text,
                score=hit.score,
            )
            for hit in hits
        ]

    def close(self) -> None:
        """The embedding model's connections and the index's file or pool (at worker exit)."""
        self._model.close()
        self._index.close()
