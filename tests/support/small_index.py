"""The smallest index that shows a search's order, threshold, heading and page: three passages
of two dimensions, written through the port (`IndexWriter`) so each store is tested alike."""

from __future__ import annotations

from coda.knowledge.chunks import Passage
from coda.knowledge.index import IndexInfo
from coda.knowledge.store import IndexWriter, SearchIndex


def write_small(writer: IndexWriter, model: str = "embed:1") -> None:
    """East and north in `a.md` (east under a heading path, north on page 2), north-east in
    `b.md`; committed."""
    writer.replace_file(
        "a.md",
        "h1",
        [Passage("east", ("方角", "東"), None), Passage("north", (), 2)],
        [[1.0, 0.0], [0.0, 1.0]],
    )
    writer.replace_file("b.md", "h2", [Passage("north-east")], [[0.6, 0.8]])
    writer.write_info(IndexInfo(embedding_model=model, dimension=2))
    writer.commit()


def assert_small_search(opened: SearchIndex) -> None:
    """The small index searched: best first, above the threshold, with heading and page."""
    hits = opened.search([0.0, 1.0], top_k=2, min_score=0.5)

    assert [(h.path, h.passage.text, round(h.score, 3)) for h in hits] == [
        ("a.md", "north", 1.0),
        ("b.md", "north-east", 0.8),
    ]
    assert hits[0].passage.page == 2
    assert opened.search([1.0, 0.0], top_k=1, min_score=0)[0].passage.heading == ("方角", "東")
    assert opened.search([0.0, 1.0], top_k=5, min_score=0.9)[0].passage.text == "north"
    assert len(opened.search([0.0, 1.0], top_k=5, min_score=-1)) == 3
    assert opened.info == IndexInfo(embedding_model="embed:1", dimension=2)
    assert len(opened) == 3
