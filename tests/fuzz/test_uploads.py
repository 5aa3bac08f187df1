"""Generated hostile-ish files through `read_upload`: valid DOCX, PDF, HTML and Markdown files
mutated (bytes flipped, cut short, spliced, repeated) and PDFs of random structure. Whatever comes
in, the answer is a `ReadFile` that keeps its promises or an `UploadRefused`, never another
exception, and it comes within the time budget.

Each example starts a reading process (0.05 to 0.15 s), so `make test` (the `ci` profile) runs a
few dozen, the same ones every run; `make fuzz` (`long`) a tenth of its request count.
"""

from __future__ import annotations

import os
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from coda.infrastructure.document_reader import (
    REASONS,
    ReadFile,
    UploadLimits,
    UploadRefused,
    read_upload,
)
from tests.support.documents import pdf_file, pdf_stream, write_docx, write_pdf

pytestmark = pytest.mark.fuzz

LIMITS = UploadLimits(max_bytes=1 << 20, max_pages=20, seconds=2.0, memory_bytes=256 << 20)
SLACK_SECONDS = 0.5
EXAMPLES = (
    30 if os.environ.get("CODA_FUZZ_PROFILE", "ci") == "ci" else settings().max_examples // 10
)


@cache
def seeds() -> dict[str, bytes]:
    """One valid file of each kind that has a structure to break."""
    with tempfile.TemporaryDirectory() as made:
        where = Path(made)
        docx = write_docx(where / "d.docx", [("Heading 1", "章"), ("", "本文です。")])
        pdf = write_pdf(where / "p.pdf", ["First page", "Second page"])
        return {
            "d.docx": docx.read_bytes(),
            "p.pdf": pdf.read_bytes(),
            "p.html": b"<h1>T</h1><p>a &amp; b</p><script>x()</script><h2>U</h2><p>c</p>",
            "n.md": "# 見出し\n本文\n```\n# code\n```\n## 下\n続き\n".encode(),
        }


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(seeds())))
    data = bytearray(seeds()[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "delete"]))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif action == "repeat":
            piece = bytes(data[at : at + draw(st.integers(1, 200))])
            data[at:at] = piece * draw(st.integers(1, 500))
        else:
            del data[at : at + draw(st.integers(1, 100))]
    # A file of one kind named as another: the reader goes by the name.
    suffix = draw(st.sampled_from([name.rsplit(".", 1)[1], "pdf", "docx", "html", "txt"]))
    return f"upload.{suffix}", bytes(data)


PDF_NAME = st.sampled_from([b"/Type", b"/Page", b"/Pages", b"/Kids", b"/Contents", b"/X"])
PDF_ATOM = st.one_of(
    PDF_NAME,
    st.integers(-(10**12), 10**12).map(lambda n: str(n).encode()),
    st.integers(1, 8).map(lambda n: b"%d 0 R" % n),
    st.binary(max_size=12).map(lambda b: b"(" + b.replace(b")", b"") + b")"),
)
PDF_VALUE = st.recursive(
    PDF_ATOM,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5).map(lambda items: b"[" + b" ".join(items) + b"]"),
        st.lists(st.tuples(PDF_NAME, inner), max_size=5).map(
            lambda pairs: b"<< " + b" ".join(k + b" " + v for k, v in pairs) + b" >>"
        ),
    ),
    max_leaves=20,
)
PDF_OPERATORS = st.sampled_from(
    [b"BT", b"ET", b"/F1 12 Tf", b"(text) Tj", b"/X Do", b"q", b"Q", b"[(a) 5 (b)] TJ", b"T*"]
)


@st.composite
def random_pdf(draw: st.DrawFn) -> tuple[str, bytes]:
    """A catalog and page tree with random objects around them, references anywhere (loops
    too), content streams of random operators, nesting up to thousands deep."""
    kids = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    depth = draw(st.integers(0, 5000))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)),
    ]
    for _ in range(draw(st.integers(1, 6))):
        objects.append(
            draw(
                st.one_of(
                    PDF_VALUE,
                    st.lists(PDF_OPERATORS, max_size=30).map(b" ".join).map(pdf_stream),
                    st.just(
                        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 9 9] /Contents 4 0 R"
                        b" /Resources << /XObject << /X 5 0 R >> >> >>"
                    ),
                )
            )
        )
    return "random.pdf", pdf_file(objects)


def check(name: str, data: bytes) -> None:
    started = time.monotonic()
    reason = ""
    try:
        read = read_upload(data, name, LIMITS)
    except UploadRefused as refused:
        reason = refused.reason
        event(f"refused {reason}")
    if reason:
        assert reason in REASONS - {"busy", "unsupported"}
    else:
        event(f"read {read.kind}")
        assert isinstance(read, ReadFile)
        assert all(s.text.strip() for s in read.sections)
        assert read.chars == sum(len(s.text) for s in read.sections) <= LIMITS.max_chars
        assert read.pages is None or read.pages <= LIMITS.max_pages
    assert time.monotonic() - started < LIMITS.seconds + SLACK_SECONDS


@settings(max_examples=EXAMPLES)
@given(mutated())
def test_mutated_files_are_read_or_refused_in_time(upload: tuple[str, bytes]) -> None:
    check(*upload)


@settings(max_examples=EXAMPLES)
@given(random_pdf())
def test_random_pdfs_are_read_or_refused_in_time(upload: tuple[str, bytes]) -> None:
    check(*upload)
