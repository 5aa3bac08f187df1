"""Model output to safe HTML: Markdown without raw HTML, highlighted code, then an allow-list.

The model's text is untrusted. markdown-it's `js-default` preset never passes raw HTML through and
refuses `javascript:` links; nh3 then keeps only the tags and attributes listed here, so even a
bug in the renderer cannot smuggle a script, a style or an htmx attribute into the page.

The text is untrusted for time as well: it may be written to make the renderer slow. markdown-it
is quadratic on some shapes (32,000 `[` took 2 s) and some Pygments lexers backtrack
exponentially (Scala's took 7 s on 37 characters). Neither has a size below which it is safe,
so each answer renders within `RENDER_BUDGET_SECONDS` and each code block highlights within
`HIGHLIGHT_BUDGET_SECONDS` of it (`time_budget`); past its budget a block shows as plain code and
an answer as plain text, both escaped, which is linear. Only the lexers in `LANGUAGES` are used,
compiled once at start (`prepare_highlighting`): compiling a lexer's expressions on first use is
itself a stall (Scala's: 0.14 s), and a name outside the list shows its block as plain code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES

from coda.frontend.rendering.cjk_emphasis import cjk_friendly_emphasis
from coda.frontend.rendering.time_budget import within_budget

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "span", "a", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th",
    "td",
}  # fmt: skip
# Pygments' short token classes (`k`, `s2`, ...) are the only classes output may carry.
HIGHLIGHT_CLASSES = {name for name in STANDARD_TYPES.values() if name}
MAX_HIGHLIGHT_CHARS = 20_000  # past this, plain text: highlighting is not worth the CPU
# Wall time one answer's rendering may take, and one code block's highlighting within it. An
# ordinary answer of 1,024 tokens renders in about 8 ms, 32,000 characters of prose in about
# 40 ms, on the 2-core CI machine; sanitizing comes on top (up to 20 ms for 32,000 characters).
# `python -m benchmarks.request_cpu` prints the figures.
RENDER_BUDGET_SECONDS = 0.04
HIGHLIGHT_BUDGET_SECONDS = 0.02
# The languages code blocks are highlighted in (Pygments names; their aliases count too): what
# models write and people ask about. Each costs its compile time at start and its memory.
LANGUAGES = (
    "python", "javascript", "typescript", "jsx", "tsx", "json", "bash", "console", "powershell",
    "batch", "html", "xml", "css", "scss", "sql", "go", "rust", "java", "kotlin", "scala", "c",
    "cpp", "csharp", "objective-c", "swift", "ruby", "php", "perl", "lua", "r", "julia", "dart",
    "elixir", "erlang", "haskell", "ocaml", "fsharp", "clojure", "scheme", "yaml", "toml", "ini",
    "docker", "make", "cmake", "nginx", "diff", "markdown", "rst", "latex", "graphql", "protobuf",
    "terraform", "groovy", "vb.net", "matlab", "fortran", "zig", "nim", "solidity", "vue", "nasm",
)  # fmt: skip


@lru_cache(maxsize=1)
def prepare_highlighting() -> dict[str, Lexer]:
    """Every alias of `LANGUAGES` to a ready lexer, its expressions compiled: call at start.

    A lexer holds no state between calls (`get_tokens` starts afresh), so one serves every
    request. Takes about a second and 17 MB, once per process.
    """
    lexers: dict[str, Lexer] = {}
    for name in LANGUAGES:
        lexer = get_lexer_by_name(name)  # compiles the class's expressions
        for alias in (name, *lexer.aliases):
            lexers.setdefault(alias.lower(), lexer)
    return lexers


def _plain_code(code: str) -> str:
    return f"<pre><code>{escape(code)}</code></pre>\n"


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fenced block in Pygments' spans, wrapped here so no language class reaches the page."""
    lexer = prepare_highlighting().get(lang.split()[0].lower()) if lang.strip() else None
    if lexer is None or len(code) > MAX_HIGHLIGHT_CHARS:
        return _plain_code(code)
    return within_budget(
        HIGHLIGHT_BUDGET_SECONDS,
        lambda: f"<pre><code>{highlight(code, lexer, HtmlFormatter(nowrap=True))}</code></pre>\n",
        lambda: _plain_code(code),
    )


def _parser(highlight: Callable[[str, str, str], str] | None) -> MarkdownIt:
    """The one set of rules: `**` next to Japanese punctuation is emphasis too (`cjk_emphasis`)."""
    options = {"breaks": True, "highlight": highlight}
    return MarkdownIt("js-default", options).use(cjk_friendly_emphasis)


@lru_cache(maxsize=1)
def renderer() -> MarkdownIt:
    """The parser of finished answers and finished blocks, code highlighted."""
    return _parser(_highlight)


@lru_cache(maxsize=1)
def unhighlighted_renderer() -> MarkdownIt:
    """The same rules for a block still being written: its code shows plain until it closes."""
    return _parser(None)


def plain_text(text: str) -> str:
    """The answer as escaped text, its line breaks kept: what an answer too slow to format shows."""
    return "<p>" + str(escape(text)).replace("\n", "<br>\n") + "</p>\n"


def render_markdown(text: str, *, copy_label: str) -> Markup:
    """Sanitized HTML for a finished answer; each code block gets a copy button."""
    prepare_highlighting()  # outside the budget: only the very first call compiles
    rendered = within_budget(
        RENDER_BUDGET_SECONDS, lambda: renderer().render(text), lambda: plain_text(text)
    )
    return sanitize(rendered, copy_label=copy_label)


def sanitize(html: str, *, copy_label: str) -> Markup:
    """The renderer's HTML cut down to `ALLOWED_TAGS`, each code block given its copy button.

    Every fragment the page gets is cleaned on its own, never joined with others first, so what
    one fragment leaves open cannot change the meaning of the next.
    """
    cleaned = nh3.clean(
        html,
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
    cleaned = cleaned.replace("<pre>", button).replace("</pre>", "</pre></div>")
    return Markup(cleaned)  # noqa: S704 - sanitized by nh3 just above
