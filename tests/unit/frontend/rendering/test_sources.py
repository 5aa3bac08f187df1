"""The answer's `[n]` linked to the passages listed under it: only in text, only for passages that
exist, after sanitizing; the passages' text escaped."""

from __future__ import annotations

from markupsafe import Markup

from coda.frontend.rendering.markdown import render_markdown
from coda.frontend.rendering.sources import EXCERPT_CHARS, link_citations, shown
from coda.llm import Source
from tests.support.html import attr, one, parse


def linked(answer: str, count: int = 2) -> str:
    return str(link_citations(render_markdown(answer, copy_label="Copy"), "turn-1", count))


def test_markers_of_existing_passages_become_links_to_their_lines() -> None:
    html = linked("休暇は十日です [1]。詳しくは [2] と [3] を。")

    links = parse(html).select("a.citation")
    assert [(a.get_text(), a["href"]) for a in links] == [
        ("[1]", "#turn-1-source-1"),
        ("[2]", "#turn-1-source-2"),
    ]
    assert "[3]" in html  # no such passage: left as text


def test_markers_in_code_links_and_attributes_stay_as_written() -> None:
    html = linked('`a[1]`\n\n```\nb[2]\n```\n\n[see [1]](https://example.com "t>[2]") [1]')

    page = parse(html)
    assert [a["href"] for a in page.select("a.citation")] == ["#turn-1-source-1"]
    assert page.select_one("code") is not None
    assert "a[1]" in page.get_text()
    assert attr(one(page, 'a[href="https://example.com"]'), "title") == "t>[2]"


def test_nothing_is_linked_without_passages_or_an_id() -> None:
    html = render_markdown("x [1]", copy_label="Copy")

    assert link_citations(html, "turn-1", 0) == html
    assert link_citations(html, "", 2) == html
    assert isinstance(link_citations(html, "turn-1", 1), Markup)


def test_a_passage_is_listed_by_its_file_headings_and_the_start_of_its_text() -> None:
    source = Source(path="a.md", heading=("規程", "休暇"), text="一行目\n\n  二行目" + "あ" * 400)

    listed = shown(source)

    assert listed.heading == "規程 › 休暇"
    assert listed.excerpt.startswith("一行目 二行目あ")
    assert len(listed.excerpt) == EXCERPT_CHARS
    assert listed.excerpt.endswith("…")
