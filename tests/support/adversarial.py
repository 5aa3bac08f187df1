"""Requests shaped to be slow, for every route that reads posted text: the no-stall suite sends
them beside a streaming answer, the fuzz suite and `benchmarks/request_cpu.py` reuse them.

Each shape comes from a public bug report of a library coda uses, or is its generalisation: runs
of escapes, quotes and backslashes (backtracking regular expressions, the JSON pre-check that
restarted at every quote), unclosed Markdown constructs (markdown-it's quadratic scans), runs
of `*` against CJK punctuation (what the CJK emphasis rules look at), deep nesting, and a fenced
block in every language Pygments knows (lexers that backtrack).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from pygments.lexers import get_all_lexers
from pypdf import PdfWriter


@dataclass(frozen=True)
class Hostile:
    """One request: a route, its form fields or one uploaded file, and what it is."""

    name: str
    path: str
    form: dict[str, str] = field(default_factory=dict)
    upload: bytes | None = None  # `/import`'s or `/attachments`' file
    filename: str = "chat.json"


# Bodies sized to the default 1 MB limit's order, but each under it with room for the form's keys.
BIG = 200_000


def lexer_names() -> list[str]:
    """The first alias of every lexer Pygments ships (about 600)."""
    return sorted({aliases[0] for _, aliases, _, _ in get_all_lexers() if aliases})


def code_bodies() -> list[str]:
    """Contents that made lexers backtrack: an unclosed string of backslashes, and its kin."""
    return [
        '"' + "\\" * 41,
        "'" + "\\" * 41,
        '"""' + '\\"' * 400,
        "/*" + "*" * 2000,
        "#" + "{" * 2000,
        "<" * 2000,
        "a" * 5000 + "!",
        "0x" + "0" * 5000 + "g",
        "(" * 3000,
    ]


def markdown_texts() -> list[str]:
    """Answers that are slow for a Markdown renderer: each about 32,000 characters."""
    n = 32_000
    return [
        "[" * n,
        "[a](" * (n // 4),
        "*_" * (n // 2),
        "*a " * (n // 3),
        "&#" * (n // 2),
        "# x\n" * (n // 4),
        "a\n" * (n // 2),
        "|a|b|\n|-|-|\n" + "|x|y|\n" * (n // 6),
        ">" * n,
        "- " * (n // 2),
        "```\n" * (n // 4),
        "".join("  " * (i % 40) + "- item\n" for i in range(n // 50)),
        "<" + "a" * n,
        "\\" * n,
        # Delimiter runs against CJK punctuation: each is one the CJK emphasis rules re-examine.
        "**「" * (n // 3),
        "あ**：" * (n // 4),
        "（*）" * (n // 3),
        "~~「_」" * (n // 5),
    ]


def saved(text: str, *, role: str = "assistant") -> str:
    """`/conversation`'s history field: one question, then `text` as the saved answer."""
    return json.dumps([{"role": "user", "content": "q"}, {"role": role, "content": text}])


def hostile_requests(languages: list[str] | None = None) -> Iterator[Hostile]:
    """Every shape, on every route that reads it; `languages`: the lexers to try (all)."""
    quadratic_json = '["' + '\\"' * 20_000  # issue 17's input: an unterminated string of \"
    for name, raw in {
        "unterminated-escapes": quadratic_json,
        "unterminated-escapes-big": '["' + '\\"' * BIG,
        "quotes": '["' + '"' * BIG,
        "backslashes": '["' + "\\" * BIG,
        "brackets-deep": "[" * BIG,
        "brackets-wide": "[]," * (BIG // 3) + "[]",
        "many-messages": json.dumps([{"role": "user", "content": "x"}] * (BIG // 30)),
    }.items():
        yield Hostile(f"chat/{name}", "/chat", {"message": "hi", "history": raw})
        yield Hostile(f"conversation/{name}", "/conversation", {"history": raw})
        yield Hostile(f"import/{name}", "/import", upload=raw.encode())
    for index, text in enumerate(markdown_texts()):
        yield Hostile(f"conversation/markdown-{index}", "/conversation", {"history": saved(text)})
        yield Hostile(f"chat/markdown-{index}", "/chat", {"message": text[:4000], "history": "[]"})
        exported = {
            "format": "coda.conversation",
            "version": 1,
            "turns": json.loads(saved(text)),
        }
        yield Hostile(f"import/markdown-{index}", "/import", upload=json.dumps(exported).encode())
    bodies = code_bodies()
    for index, language in enumerate(languages if languages is not None else lexer_names()):
        body = bodies[index % len(bodies)]
        fence = f"```{language}\n{body}\n```\n"
        yield Hostile(f"conversation/lexer-{language}", "/conversation", {"history": saved(fence)})
    yield Hostile(
        "conversation/nested-fences",
        "/conversation",
        {"history": saved("".join("`" * (3 + i % 7) + 'scala\n"\\\\\\\n' for i in range(3000)))},
    )


def hostile_uploads() -> Iterator[Hostile]:
    """Attached files that cost a reader most, and turns and questions that carry hostile ones."""
    for filename, data in hostile_files().items():
        yield Hostile(f"attachments/{filename}", "/attachments", upload=data, filename=filename)
    for name, raw in {
        "deep": "[" * BIG,
        "many-files": json.dumps([{"name": "a", "text": "x"}] * 5000),
        "long-whole": json.dumps([{"name": "a", "text": "あ" * BIG}]),
        "passages": json.dumps([{"name": "a", "passages": [{"text": "x"}] * 20_000, "total": 1}]),
    }.items():
        yield Hostile(f"chat/attachments-{name}", "/chat", {"message": "hi", "attachments": raw})
    yield Hostile("attachments/question", "/attachments/question", {"question": "あ" * BIG})


def hostile_files() -> dict[str, bytes]:
    """Files that cost a reader most: a zip bomb posing as DOCX, PDFs nested deep or of many
    pages, HTML nested deep around a script, Markdown of heading marks, one endless line of code.
    Each body is at most about `BIG` bytes, as the others: the test client's threads share one
    interpreter, and encoding a megabyte would stall the probes' timing itself."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (20 << 20))
    nested = b"%PDF-1.4\n1 0 obj\n" + b"[" * BIG + b"\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    writer = PdfWriter()
    for _ in range(2000):
        writer.add_blank_page(width=72, height=72)
    pages = io.BytesIO()
    writer.write(pages)
    return {
        "bomb.docx": bomb.getvalue(),
        "nested.pdf": nested,
        "pages.pdf": pages.getvalue(),
        "nested.html": (b"<div>" * (BIG // 5)) + b"<script>alert(1)</script>",
        "headings.md": b" #" * (BIG // 4) + b"\n" + b"#" * (BIG // 2),
        "line.py": b"x = '" + b"a" * BIG + b"'",
        "random.docx": bytes(range(256)) * 400,
    }
