"""Model output to safe HTML: Markdown without raw HTML, highlighted code, then an allow-list.

The model's text is untrusted. markdown-it's `js-default` preset never passes raw HTML through and
refuses `javascript:` links; nh3 then keeps only the tags and attributes listed here, so even a
bug in the renderer cannot smuggle a script, a style or an htmx attribute into the page.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "span", "a", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th",
    "td",
}  # fmt: skip
# Pygments' short token classes (`k`, `s2`, ...) are the only classes output may carry.
HIGHLIGHT_CLASSES = {name for name in STANDARD_TYPES.values() if name}
MAX_HIGHLIGHT_CHARS = 20_000  # past this, plain text: highlighting is not worth the CPU


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fenced block in Pygments' spans, wrapped here so no language class reaches the page."""
    body = str(escape(code))
    if lang and len(code) <= MAX_HIGHLIGHT_CHARS:
        try:
            lexer = get_lexer_by_name(lang.split()[0])
        except ClassNotFound:
            pass
        else:
            body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f"<pre><code>{body}</code></pre>\n"


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("js-default", {"breaks": True, "highlight": _highlight})


def render_markdown(text: str, *, copy_label: str) -> Markup:
    """Sanitized HTML for a finished answer; each code block gets a copy button."""
    html = nh3.clean(
        _renderer().render(text),
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "ol": {"start"}},
        allowed_classes={"span": HIGHLIGHT_CLASSES},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    # Only the sanitizer's own `<pre>` tags can match: any `<pre>` in the text is escaped by now.
    button = (
        f'<div class="code-block"><button type="button" class="copy-code">'
        f"{escape(copy_label)}</button><pre>"
    )
    html = html.replace("<pre>", button).replace("</pre>", "</pre></div>")
    return Markup(html)  # noqa: S704 - sanitized by nh3 just above
