"""A document read into sections: text under a heading path, or on a page, whatever its format.

Markdown and plain text are read line by line (ATX headings `#`…`######` outside code fences
make the path); HTML with the standard library's tokenizer (`h1`…`h6`, block elements end
paragraphs, `script` and `style` dropped); DOCX with python-docx (paragraph styles `Title` and
`Heading N`, tables row by row) after its zip is checked for bombs; PDF with pypdf, page by page
(its text layer only: a scanned page yields nothing). Every reader runs within `ReadLimits`.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from coda.knowledge.limits import ReadLimits, UnreadableError, time_limit

# Text files are UTF-8 (a BOM allowed), else Shift_JIS as Windows writes it: Japanese teams'
# older files.
ENCODINGS = ("utf-8-sig", "cp932")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
HTML_BLOCKS = frozenset(
    [
        "p",
        "div",
        "li",
        "tr",
        "br",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "figcaption",
        "caption",
        "td",
        "th",
        "main",
        "nav",
        "aside",
    ]
)
HTML_DROPPED = frozenset({"script", "style", "template", "noscript", "head"})
DOCX_HEADING = re.compile(r"^(?:Heading|見出し)\s*(\d)$")


@dataclass(frozen=True)
class Section:
    """Text that shares a heading path (outermost first) and, for a PDF, a page (from 1)."""

    text: str
    heading: tuple[str, ...] = ()
    page: int | None = None


def read_document(path: Path, limits: ReadLimits) -> list[Section]:
    """The sections of `path`, by its suffix; raises `UnreadableError` naming why it cannot be
    read (its kind, its size, its time, a broken file)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableError(f"not a kind of document the indexer reads ({path.suffix or 'none'})")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise UnreadableError(f"{size} bytes, over the limit of {limits.max_file_bytes}")
    with time_limit(limits.seconds):
        try:
            sections = [s for s in reader(path, limits) if s.text.strip()]
        except UnreadableError:
            raise
        except Exception as exc:  # a broken file: each library fails its own way
            raise UnreadableError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    if sum(len(s.text) for s in sections) > limits.max_chars:
        raise UnreadableError(f"more than {limits.max_chars} characters of text")
    return sections


def supported(path: Path) -> bool:
    """Whether the indexer reads files named like `path`."""
    return path.suffix.lower() in READERS


def read_text_file(path: Path) -> str:
    """A text file's content in the first of `ENCODINGS` it decodes in."""
    raw = path.read_bytes()
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableError("neither UTF-8 nor Shift_JIS text")


def markdown_sections(text: str) -> Iterator[Section]:
    """Markdown cut at its ATX headings; a `#` inside a code fence is code, not a heading."""
    path: list[str] = []
    lines: list[str] = []
    fence = ""
    for line in text.splitlines():
        if fence:
            if line.lstrip().startswith(fence):
                fence = ""
        elif opened := FENCE.match(line):
            fence = opened.group(1)
        elif heading := ATX_HEADING.match(line):
            yield Section("\n".join(lines), tuple(path))
            lines = []
            level = len(heading.group(1))
            path = [*path[: level - 1], heading.group(2).strip()]
            continue
        lines.append(line)
    yield Section("\n".join(lines), tuple(path))


def _markdown(path: Path, limits: ReadLimits) -> Iterable[Section]:
    return markdown_sections(read_text_file(path))


def _plain(path: Path, limits: ReadLimits) -> Iterable[Section]:
    return [Section(read_text_file(path))]


class _HTMLSections(HTMLParser):
    """Text between headings; block elements end a paragraph (a blank line)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.path: list[str] = []
        self.parts: list[str] = []
        self.heading_level = 0
        self.heading_parts: list[str] = []
        self.dropped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HTML_DROPPED:
            self.dropped += 1
        elif tag in HTML_HEADINGS:
            self._close_section()
            self.heading_level, self.heading_parts = HTML_HEADINGS[tag], []
        elif tag in HTML_BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HTML_DROPPED:
            self.dropped = max(0, self.dropped - 1)
        elif tag in HTML_HEADINGS and self.heading_level:
            title = " ".join("".join(self.heading_parts).split())
            self.path = [*self.path[: self.heading_level - 1], title]
            self.heading_level = 0
        elif tag in HTML_BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.dropped:
            return
        (self.heading_parts if self.heading_level else self.parts).append(data)

    def _close_section(self) -> None:
        self.sections.append(Section("".join(self.parts), tuple(self.path)))
        self.parts = []

    def finish(self) -> list[Section]:
        self.close()
        self._close_section()
        return self.sections


def html_sections(text: str) -> list[Section]:
    """HTML's text by heading; the standard library's tokenizer is linear in the input."""
    parser = _HTMLSections()
    parser.feed(text)
    return parser.finish()


def _html(path: Path, limits: ReadLimits) -> Iterable[Section]:
    return html_sections(read_text_file(path))


def check_zip(path: Path, limits: ReadLimits) -> None:
    """Refuse a zip whose parts would unpack past the limits: a bomb is refused before any of it
    is inflated (the declared sizes bound what `zipfile` will inflate)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnreadableError(f"not a DOCX (zip) file: {exc}") from exc
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unpacked > limits.max_unpacked_bytes:
        raise UnreadableError(f"unpacks to {unpacked} bytes, over {limits.max_unpacked_bytes}")
    if unpacked > MIN_RATIO_CHECKED and unpacked > limits.max_ratio * max(packed, 1):
        raise UnreadableError(f"compressed {unpacked // max(packed, 1)} to 1: a zip bomb")


MIN_RATIO_CHECKED = 1 << 20  # small files may pack tightly (a page of repeated text)


def _docx(path: Path, limits: ReadLimits) -> Iterable[Section]:
    import docx  # python-docx: only the indexer needs it

    check_zip(path, limits)
    document = docx.Document(str(path))
    sections: list[Section] = []
    heading: list[str] = []
    lines: list[str] = []
    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        level = 1 if style == "Title" else _docx_level(style or "")
        if level and paragraph.text.strip():
            sections.append(Section("\n\n".join(lines), tuple(heading)))
            lines = []
            heading = [*heading[: level - 1], paragraph.text.strip()]
        else:
            lines.append(paragraph.text)
    sections.append(Section("\n\n".join(lines), tuple(heading)))
    for table in document.tables:  # after the text: python-docx keeps them apart
        rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
        sections.append(Section("\n".join(rows), tuple(heading)))
    return sections


def _docx_level(style: str) -> int:
    found = DOCX_HEADING.match(style)
    return int(found.group(1)) if found else 0


def _pdf(path: Path, limits: ReadLimits) -> Iterable[Section]:
    from pypdf import PdfReader  # only the indexer needs it

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise UnreadableError("encrypted PDF")
    if len(reader.pages) > limits.max_pages:
        raise UnreadableError(f"{len(reader.pages)} pages, over the limit of {limits.max_pages}")
    return [
        Section(page.extract_text() or "", page=number)
        for number, page in enumerate(reader.pages, start=1)
    ]


READERS: dict[str, Callable[[Path, ReadLimits], Iterable[Section]]] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _plain,
    ".text": _plain,
    ".html": _html,
    ".htm": _html,
    ".docx": _docx,
    ".pdf": _pdf,
}
