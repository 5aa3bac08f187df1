"""Model output is untrusted: rendered Markdown keeps formatting and nothing executable."""

from __future__ import annotations

from coda.frontend.rendering.markdown import LANGUAGES, prepare_highlighting, render_markdown


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
