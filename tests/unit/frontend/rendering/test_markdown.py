"""Model output is untrusted: rendered Markdown keeps formatting and nothing executable."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from coda.frontend.rendering.cjk_emphasis import cjk_friendly_emphasis, is_cjk
from coda.frontend.rendering.markdown import (
    LANGUAGES,
    RENDER_BUDGET_SECONDS,
    prepare_highlighting,
    render_markdown,
    renderer,
)


def render(text: str) -> str:
    return str(render_markdown(text, copy_label="コピー"))


def test_raw_html_is_shown_as_text_never_as_markup() -> None:
    html = render('<script>alert(1)</script><img src=x onerror=alert(1)><div hx-get="/x">hi</div>')

    assert "<script" not in html
    assert "<img" not in html
    assert "<div hx-get" not in html
    assert "&lt;script&gt;" in html


def test_javascript_links_are_dropped_and_http_links_are_safe() -> None:
    html = render("[bad](javascript:alert(1)) [good](https://example.com)")

    assert "javascript:" not in html.replace("[bad](javascript:", "")  # kept only as plain text
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_code_blocks_are_highlighted_with_a_copy_button() -> None:
    html = render('```python\nprint("<b>")\n```')

    assert '<button type="button" class="copy-code">コピー</button><pre><code>' in html
    assert '<span class="nb">print</span>' in html
    assert "&lt;b&gt;" in html


def test_unknown_languages_and_plain_fences_stay_plain_text() -> None:
    html = render("```nosuchlang\na < b\n```")

    assert "<pre><code>a &lt; b\n</code></pre>" in html


def test_formatting_lists_and_line_breaks_survive() -> None:
    html = render("**太字** と *斜体*\n次の行\n\n1. 一\n2. 二")

    assert "<strong>太字</strong>" in html
    assert "<em>斜体</em>" in html
    assert "<br>" in html
    assert "<ol>" in html


def test_a_lexer_that_backtracks_shows_its_block_as_plain_code_in_time() -> None:
    """Issue 17: Pygments' Scala lexer takes hours on a quote and 41 backslashes."""
    body = '"' + "\\" * 41
    html = render_markdown(f"```scala\n{body}\n```\n\nafter", copy_label="Copy")
    assert f"<pre><code>{body}\n</code></pre>" in html
    assert "<p>after</p>" in html


def test_a_language_outside_the_list_is_plain_code() -> None:
    html = render_markdown("```brainfuck\n+++\n```", copy_label="Copy")
    assert "<pre><code>+++\n</code></pre>" in html


def test_an_answer_too_slow_to_format_is_shown_as_escaped_text_with_its_lines() -> None:
    """markdown-it reads 32,000 `[` in quadratic time: past the budget, the text as it is."""
    text = "<b>x</b>\n" + "[" * 32_000
    html = render_markdown(text, copy_label="Copy")
    assert html.startswith("<p>&lt;b&gt;x&lt;/b&gt;<br>\n[[[")
    assert "<b>" not in html


def test_every_language_in_the_list_has_a_lexer_under_its_name() -> None:
    lexers = prepare_highlighting()
    assert all(name in lexers for name in LANGUAGES)
    assert lexers["py"] is lexers["python"]


# Issue 20: emphasis next to Japanese, Chinese and Korean punctuation (`cjk_emphasis`).


def _plain_parser() -> MarkdownIt:
    """The renderer's parser as it was before the CJK rules: what other text must still match."""
    return MarkdownIt("js-default", {"breaks": True})


def _cjk_parser() -> MarkdownIt:
    return MarkdownIt("js-default", {"breaks": True}).use(cjk_friendly_emphasis)


@pytest.mark.parametrize(
    ("text", "strong"),
    [
        ("**注意：**入力は必須です。", "<strong>注意：</strong>入力は必須です。"),
        ("これは**「重要」**な点です。", "これは<strong>「重要」</strong>な点です。"),
        (
            "**日本語の文章（括弧付き）。**この文が続きます。",
            "<strong>日本語の文章（括弧付き）。</strong>この文が続きます。",
        ),
        ("これは**重要**な点です。", "これは<strong>重要</strong>な点です。"),
    ],
)
def test_bold_next_to_japanese_punctuation_is_bold_with_no_asterisks_left(
    text: str, strong: str
) -> None:
    html = render(text)
    assert strong in html
    assert "*" not in html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这是**「重要」**的。", "这是<strong>「重要」</strong>的。"),  # Chinese
        ("**注意：**请先登录。", "<strong>注意：</strong>请先登录。"),
        ("**중요:**이것은 필수입니다.", "<strong>중요:</strong>이것은 필수입니다."),  # Korean
        ("**`npm publish`**를 실행하십시오.", "<strong><code>npm publish</code></strong>를"),
        ("これは*強調*、です。", "これは<em>強調</em>、です。"),  # `*em*` before `、`
        ("*強調、*です。", "<em>強調、</em>です。"),  # `、` inside the closing `*`
        ("~~「旧」~~新しい名前", "<s>「旧」</s>新しい名前"),  # strikethrough too
        ("**（注）**本文", "<strong>（注）</strong>本文"),
        ("全角**『書名』**を太字に", "全角<strong>『書名』</strong>を太字に"),
    ],
)
def test_cjk_emphasis_in_chinese_korean_and_beside_japanese_commas(
    text: str, expected: str
) -> None:
    html = render(text)
    assert expected in html
    assert "*" not in html
    assert "~" not in html


@pytest.mark.parametrize(
    "text",
    [
        'a**"b"**c',  # CommonMark: punctuation inside, a letter outside: not emphasis
        '⭐**"x"**a',  # an emoji is not a CJK letter
        "snake_case_名前",
        "__「重要」__です",  # `_` still never opens or closes inside a word
        "2 * 3 * 4",
    ],
)
def test_text_without_cjk_neighbours_renders_as_commonmark_says(text: str) -> None:
    assert _cjk_parser().render(text) == _plain_parser().render(text)


# Text made only of what emphasis is decided by outside CJK: delimiters, letters, digits, spaces,
# ASCII punctuation, line breaks, and the non-CJK letters and symbols the rules must leave alone.
NON_CJK = st.text(alphabet="*_~ ab1.,!?\"'()[]`\\\n\u00e9\u2b50-", max_size=40)


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(NON_CJK)
def test_without_cjk_text_the_rules_change_nothing(text: str) -> None:
    """The amendment only applies beside CJK characters: any other text renders exactly as
    markdown-it's CommonMark rules render it (3,000 generated texts, the same every run)."""
    assert _cjk_parser().render(text) == _plain_parser().render(text)
    assert MarkdownIt("commonmark").use(cjk_friendly_emphasis).render(text) == MarkdownIt(
        "commonmark"
    ).render(text)


def test_cjk_letters_punctuation_and_emoji_are_told_apart() -> None:
    assert all(is_cjk(char) for char in "あア漢字한글：「」（）。、ｱ")
    assert not any(is_cjk(char) for char in 'a:()"é⭐😀🎉 ')


def _fastest(parser: MarkdownIt, text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        parser.render(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", ["**「", "あ**：", "（*）", "~~「_」", "*、"])
def test_cjk_rules_keep_hostile_delimiter_runs_linear_and_near_markdown_its_own_cost(
    unit: str,
) -> None:
    """Untrusted text goes through these rules under gevent: they add a constant per delimiter
    run, so doubling the text about doubles the time, and it stays near markdown-it's own.
    Bounds are loose: the fastest of three runs, on a machine that may be busy."""
    small, large = unit * (4_000 // len(unit)), unit * (8_000 // len(unit))
    cjk, plain = _cjk_parser(), _plain_parser()
    assert _fastest(cjk, large) < 3 * _fastest(plain, large) + 0.005
    assert _fastest(cjk, large) < 4 * _fastest(cjk, small) + 0.005


def test_a_long_japanese_answer_with_emphasis_renders_well_within_its_budget() -> None:
    """A 4,000-character answer full of `**注意：**`-style labels: formatted, not the fallback."""
    paragraph = (
        "**注意：**入力は必須です。これは**「重要」**な点です。"
        "**日本語の文章（括弧付き）。**この文が続きます。*強調*、そして本文が続きます。\n\n"
    )
    answer = paragraph * (4_000 // len(paragraph) + 1)  # whole paragraphs: no `**` cut in two
    assert len(answer) >= 4_000
    render_markdown(answer, copy_label="Copy")  # warm
    html = str(render_markdown(answer, copy_label="Copy"))
    assert "<strong>注意：</strong>" in html
    assert "**" not in html
    assert _fastest(renderer(), answer) < RENDER_BUDGET_SECONDS / 2
