"""A document read into sections: text under a heading path, or on a page, whatever its format.

Markdown and plain text are read line by line (ATX headings `#`…`######` outside code fences
make the path); HTML with the standard library's tokenizer (`h1`…`h6`, block elements end
paragraphs, `script` and `style` dropped); DOCX with python-docx (paragraph styles `Title` and
`Heading N`, tables row by row) after its zip is checked for bombs; PDF with pypdf, page by page
(its text layer only: a scanned page yields nothing); source code and configuration files (`KINDS`)
as plain text, one section. Every reader takes the file's bytes and runs within `ReadLimits`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO

from coda.knowledge.limits import ReadLimits, UnreadableError, time_limit

# Text files are UTF-8 (a BOM allowed), else Shift_JIS as Windows writes it: Japanese teams'
# older files.
ENCODINGS = ("utf-8-sig", "cp932")
# An ATX heading's opening run; its text is the rest of the line (`heading_text`). One pattern
# for the whole line (`(.*?)[ \t#]*$`) was quadratic on a line of " #" pairs: the lazy text
# retried the closing run at every position.
ATX_OPENING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)")
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
    """The sections of `path`, by its name; raises `UnreadableError` naming why it cannot be
    read (its kind, its size, its time, a broken file)."""
    kind = kind_of(path.name)
    if kind is None:
        raise UnreadableError(
            f"not a kind of document the indexer reads ({path.suffix or 'none'})",
            code="unsupported",
            params={"suffix": path.suffix.lower()},
        )
    size = path.stat().st_size
    _check_size(size, limits)
    return read_bytes(path.read_bytes(), kind, limits)


def read_bytes(data: bytes, kind: str, limits: ReadLimits) -> list[Section]:
    """The sections of a file's content `data` read as `kind` (a value of `KINDS`), blank ones
    dropped; raises `UnreadableError` as `read_document` does."""
    return kept(read_sections(data, kind, limits), limits)


def read_sections(data: bytes, kind: str, limits: ReadLimits) -> list[Section]:
    """Every section `data` holds, blank ones too (a PDF's page without text is one: the uploads'
    reading process, `coda.knowledge.reader_process`, counts pages and tells a scan by them);
    raises `UnreadableError` for a file too large, too slow or broken."""
    _check_size(len(data), limits)
    reader = READERS[kind]
    with time_limit(limits.seconds):
        try:
            return list(reader(data, limits))
        except UnreadableError:
            raise
        except MemoryError as exc:  # under a memory cap (the uploads' reading process)
            raise UnreadableError("out of memory", code="too_much_memory") from exc
        except Exception as exc:  # a broken file: each library fails its own way
            raise UnreadableError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def kept(sections: list[Section], limits: ReadLimits) -> list[Section]:
    """The sections with text, if their text is within `limits.max_chars`, else
    `UnreadableError`."""
    found = [s for s in sections if s.text.strip()]
    chars = sum(len(s.text) for s in found)
    if chars > limits.max_chars:
        raise UnreadableError(
            f"more than {limits.max_chars} characters of text",
            code="too_large",
            params={"limit": limits.max_chars, "size": chars, "unit": "chars"},
        )
    return found


def _check_size(size: int, limits: ReadLimits) -> None:
    if size > limits.max_file_bytes:
        raise UnreadableError(
            f"{size} bytes, over the limit of {limits.max_file_bytes}",
            code="too_large",
            params={"limit": limits.max_file_bytes, "size": size, "unit": "bytes"},
        )


def kind_of(name: str) -> str | None:
    """The kind of document a file named `name` holds (a key of `READERS`), by its suffix or, for
    a few build files, its whole name; None for one the readers do not know."""
    lowered = name.rsplit("/", 1)[-1].lower()
    if lowered in CODE_NAMES:
        return "code"
    suffix = Path(lowered).suffix
    return KINDS.get(suffix)


def supported(path: Path) -> bool:
    """Whether the indexer reads files named like `path`."""
    return kind_of(path.name) is not None


def decode_text(raw: bytes) -> str:
    """A text file's content in the first of `ENCODINGS` it decodes in."""
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
        elif heading := ATX_OPENING.match(line):
            yield Section("\n".join(lines), tuple(path))
            lines = []
            level = len(heading.group(1))
            path = [*path[: level - 1], heading_text(line[heading.end() :])]
            continue
        lines.append(line)
    yield Section("\n".join(lines), tuple(path))


def heading_text(rest: str) -> str:
    """An ATX heading's text from what follows its opening run: spaces and a closing run of `#`
    removed (CommonMark: the run closes the heading only after a space, so `C#` stays). Linear:
    each strip is one pass from the end."""
    text = rest.strip(" \t")
    without_run = text.rstrip("#")
    if not without_run or without_run[-1] in " \t":
        text = without_run.rstrip(" \t")
    return text.strip()


def _markdown(data: bytes, limits: ReadLimits) -> Iterable[Section]:
    return markdown_sections(decode_text(data))


def _plain(data: bytes, limits: ReadLimits) -> Iterable[Section]:
    return [Section(decode_text(data))]


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


def _html(data: bytes, limits: ReadLimits) -> Iterable[Section]:
    return html_sections(decode_text(data))


def check_zip(source: Path | IO[bytes], limits: ReadLimits) -> None:
    """Refuse a zip whose parts would unpack past the limits: a bomb is refused before any of it
    is inflated (the declared sizes bound what `zipfile` will inflate)."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnreadableError(f"not a DOCX (zip) file: {exc}") from exc
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unpacked > limits.max_unpacked_bytes:
        raise UnreadableError(
            f"unpacks to {unpacked} bytes, over {limits.max_unpacked_bytes}",
            code="bomb",
            params={"limit": limits.max_unpacked_bytes, "size": unpacked},
        )
    if unpacked > MIN_RATIO_CHECKED and unpacked > limits.max_ratio * max(packed, 1):
        raise UnreadableError(
            f"compressed {unpacked // max(packed, 1)} to 1: a zip bomb",
            code="bomb",
            params={"limit": limits.max_ratio, "ratio": unpacked // max(packed, 1)},
        )


MIN_RATIO_CHECKED = 1 << 20  # small files may pack tightly (a page of repeated text)


def _docx(data: bytes, limits: ReadLimits) -> Iterable[Section]:
    import docx  # python-docx: only DOCX files need it

    check_zip(io.BytesIO(data), limits)
    document = docx.Document(io.BytesIO(data))
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


def _pdf(data: bytes, limits: ReadLimits) -> Iterable[Section]:
    from pypdf import PdfReader  # only PDF files need it

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise UnreadableError("encrypted PDF", code="encrypted")
    pages = len(reader.pages)  # counted from the page tree, before any text is extracted
    if pages > limits.max_pages:
        raise UnreadableError(
            f"{pages} pages, over the limit of {limits.max_pages}",
            code="too_many_pages",
            params={"limit": limits.max_pages, "pages": pages},
        )
    return [
        Section(page.extract_text() or "", page=number)
        for number, page in enumerate(reader.pages, start=1)
    ]


READERS: dict[str, Callable[[bytes, ReadLimits], Iterable[Section]]] = {
    "markdown": _markdown,
    "text": _plain,
    "code": _plain,  # source code is text whose lines matter: one section, read as is
    "html": _html,
    "docx": _docx,
    "pdf": _pdf,
}
# Source code and configuration files: whatever a team keeps in its repositories and pastes.
CODE_SUFFIXES = frozenset(
    {
        *(".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt"),
        *(".kts", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".cs", ".rb", ".php", ".swift"),
        *(".scala", ".sh", ".bash", ".zsh", ".sql", ".css", ".scss", ".less", ".json", ".yaml"),
        *(".yml", ".toml", ".ini", ".cfg", ".conf", ".xml", ".lua", ".r", ".pl", ".dart"),
        *(".vue", ".svelte", ".proto", ".graphql", ".tf"),
    }
)
CODE_NAMES = frozenset({"dockerfile", "makefile", "containerfile", "gemfile", "rakefile"})
KINDS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".pdf": "pdf",
    **dict.fromkeys(CODE_SUFFIXES, "code"),
}
