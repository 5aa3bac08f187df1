"""An answer formatted while it streams: the finished blocks and the last block add up to the
final render, each block is sent once, and every fragment is as safe as the final answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from unittest.mock import patch
from urllib.parse import urlparse

import pytest
from bs4 import BeautifulSoup, Tag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from coda.frontend.rendering.live import LiveAnswer
from coda.frontend.rendering.markdown import ALLOWED_TAGS, HIGHLIGHT_CLASSES, render_markdown

COPY = "コピー"
T = TypeVar("T")
# Lines an answer is made of, and lines that change how the lines before them read (a setext
# underline, a table's delimiter row, a lazy continuation, a list marker of another kind).
LINES = [
    "# 見出し", "## Heading", "本文の段落です。", "**注意：**入力は必須です。",
    "これは**「重要」**な点です。",
    "- 項目", "  - 入れ子", "* star", "+ plus", "1. 一つ目", "2. 二つ目", "3) paren", "> 引用",
    "```python", "```", "~~~", "    indented code", "x = 1", "| a | b |", "|---|---|", "| 1 | 2 |",
    "---", "===", "*em* and `code`", "[link](https://example.com)", "\t- tab", "  continued", "",
    "", "<b>raw</b>", "**太字の始まり", "終わり**",
]  # fmt: skip


def unbounded(seconds: float, work: Callable[[], T], fallback: Callable[[], T]) -> T:
    """The work without its time budget: on a busy machine a render may outrun it and fall back
    to plain text, which is right there but not what an equality test is about."""
    return work()


def streamed(text: str, cuts: list[int]) -> tuple[list[Markup], Markup]:
    """`text` fed a few characters at a time (`cuts`), then as final: every finished block
    the updates carried, in order, and the last block as last sent; no time budget."""
    with (
        patch("coda.frontend.rendering.live.within_budget", unbounded),
        patch("coda.frontend.rendering.markdown.within_budget", unbounded),
    ):
        return _streamed(text, cuts)


def unbounded_render(text: str) -> Markup:
    with patch("coda.frontend.rendering.markdown.within_budget", unbounded):
        return render_markdown(text, copy_label=COPY)


def _streamed(text: str, cuts: list[int]) -> tuple[list[Markup], Markup]:
    live = LiveAnswer(copy_label=COPY)
    blocks: list[Markup] = []
    last = Markup("")
    at, step = 0, 0
    while at < len(text):
        at = min(len(text), at + cuts[step % len(cuts)])
        step += 1
        update = live.update(text[:at])
        blocks.extend(update.finished)
        last = update.last if update.last is not None else last
    update = live.update(text, final=True)
    blocks.extend(update.finished)
    last = update.last if update.last is not None else last
    return blocks, last


answers = st.lists(st.sampled_from(LINES), max_size=16).map("\n".join)
pieces = st.lists(st.integers(1, 12), min_size=1, max_size=40)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers, pieces, st.booleans())
def test_streamed_blocks_and_the_last_block_are_the_final_render(
    text: str, cuts: list[int], newline: bool
) -> None:
    text += "\n" if newline else ""
    blocks, last = streamed(text, cuts)
    assert Markup("").join(blocks) + last == unbounded_render(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200).filter(lambda text: "]:" not in text), pieces)
def test_any_text_streams_to_the_final_render(text: str, cuts: list[int]) -> None:
    """Reference definitions aside (a link defined after its use is a link only at the end)."""
    blocks, last = streamed(text, cuts)
    assert Markup("").join(blocks) + last == unbounded_render(text)


def test_each_block_is_sent_once_and_only_the_last_again() -> None:
    text = "# 見出し\n\n段落です。\n\n- 一\n- 二\n\n最後の段落\n"
    live = LiveAnswer(copy_label=COPY)
    sent: list[str] = []
    for at in range(1, len(text) + 1):
        sent.extend(live.update(text[:at]).finished)
    items = "<li>一</li>\n<li>二</li>"
    assert sent == ["<h1>見出し</h1>\n", "<p>段落です。</p>\n", f"<ul>\n{items}\n</ul>\n"]
    assert live.update(text).last is None  # unchanged: nothing to send


def test_a_code_block_is_plain_until_it_closes_then_highlighted_once() -> None:
    live = LiveAnswer(copy_label=COPY)
    open_block = live.update("```python\nx = 1\n")
    assert open_block.finished == ()
    assert open_block.last is not None
    assert '<span class="' not in open_block.last
    assert "x = 1" in open_block.last
    closed = live.update("```python\nx = 1\n```\n")
    (block,) = closed.finished
    assert '<span class="mi">1</span>' in block
    assert closed.last == ""


def test_a_line_still_being_written_finishes_no_block() -> None:
    """`*` starts a list of its own, but `**bold**` continues the item before it."""
    live = LiveAnswer(copy_label=COPY)
    assert live.update("- 項目\n*").finished == ()
    assert live.update("- 項目\n**太字**").finished == ()
    assert live.update("- 項目\n**太字**\n\n次").finished == ()  # 次 may be "次の…" or "- 次"
    assert live.update("- 項目\n**太字**\n\n次の段落\n").finished != ()


def test_a_last_block_over_its_budget_streams_as_escaped_text_from_then_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = LiveAnswer(copy_label=COPY)
    (first,) = live.update("# 題\n\n<b>本文\n").finished
    assert first == "<h1>題</h1>\n"
    # As if the render ran out of time (the budget itself is test_time_budget's).
    monkeypatch.setattr(
        "coda.frontend.rendering.live.within_budget", lambda seconds, work, fallback: fallback()
    )
    slow = live.update("# 題\n\n<b>本文\n**もっと**")
    assert live.plain
    assert slow.finished == ()
    assert slow.last == "<p>&lt;b&gt;本文<br>\n**もっと**</p>\n"


# What a hostile model (or a prompt injection) writes to get markup through.
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
    '<svg onload="alert(1)"><a href="javascript:alert(1)">s</a></svg>',
    '<iframe src="https://evil.example"></iframe><style>*{display:none}</style>',
    "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](JaVaScRiPt:alert(1)) [y](&#106;avascript:alert(1)) <javascript:alert(1)>",
    '![img](x" onerror="alert(1))',
    '[t](https://ok.example "a\\" onmouseover=\\"alert(1)")',
    "```html\n<script>alert(1)</script>\n```",
    '```" onclick="alert(1)\n</code></pre><script>alert(1)</script>\n```',
    "| <b onclick=alert(1)>a</b> | b |\n|---|---|\n| <img src=x> | [l](vbscript:x) |",
    "> <form action=/chat><input name=message></form>",
    '- <a href="/" hx-post="/chat">item</a>\n  - `<x hx-on:click="alert(1)">`',
    "<!-- hidden --><template><script>alert(1)</script></template>",
    '<hx-partial hx-target="body" hx-swap="innerHTML">gone</hx-partial>',
]
ATTRIBUTES = {"a": {"href", "title", "rel"}, "ol": {"start"}, "span": {"class"},
              "div": {"class"}, "button": {"type", "class"}}  # fmt: skip


def assert_safe(fragment: str) -> None:
    """Only the allow-list's tags and attributes, links only to http(s) and mail."""
    for element in BeautifulSoup(fragment, "html.parser").find_all(True):
        assert isinstance(element, Tag)
        own = {"div", "button"}  # the copy button around code blocks, added after sanitizing
        assert element.name in ALLOWED_TAGS | own, fragment
        for name, value in element.attrs.items():
            assert name in ATTRIBUTES.get(element.name, set()), fragment
            if name == "href":
                assert urlparse(str(value)).scheme in {"http", "https", "mailto"}, fragment
            if element.name == "span" and name == "class":
                assert set(value) <= HIGHLIGHT_CLASSES, fragment


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("step", [1, 3, 7])
def test_every_streamed_fragment_of_hostile_text_is_sanitized(payload: str, step: int) -> None:
    text = f"前置き\n\n{payload}\n\n後書き"
    live = LiveAnswer(copy_label=COPY)
    for at in range(step, len(text) + step, step):
        update = live.update(text[:at])
        for fragment in (*update.finished, update.last or ""):
            assert_safe(fragment)
    for fragment in live.update(text, final=True).finished:
        assert_safe(fragment)
