"""Documents the tests make themselves: a PDF with a text layer, a DOCX with headings, and a
small Japanese and English corpus with questions whose passage is known."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A minimal PDF, one line of ASCII text a page in Helvetica: a real text layer that any
    reader extracts."""
    objects: list[bytes] = []
    count = len(pages)
    kids = " ".join(f"{3 + 2 * n} 0 R" for n in range(count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    font = 3 + 2 * count
    for n, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * n} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(pdf_stream(content))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    path.write_bytes(pdf_file(objects))
    return path


def pdf_stream(content: bytes, dictionary: bytes = b"") -> bytes:
    """A PDF stream object holding `content`, `dictionary` entries beside its length."""
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(content), content)


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of `objects` numbered from 1 (the first the catalog), with its cross-reference
    table: written by hand, so a test can make any structure, hostile ones too."""
    body = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return body


def blank_pdf(pages: int) -> bytes:
    """A PDF of `pages` pages without any text, as a scanner's would be without its images,
    written by pypdf."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(path: Path, text: str) -> bytes:
    """A PDF with `text` on its one page, encrypted (AES-256) by pypdf with a user password."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=write_pdf(path, [text]))
    writer.encrypt("password", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write_docx(path: Path, blocks: list[tuple[str, str]]) -> Path:
    """A DOCX made by python-docx: (style, text) pairs, style `Heading 1`, `Heading 2` or ``."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        if style:
            document.add_heading(text, level=int(style.rsplit(" ", 1)[1]))
        else:
            document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "名前"
    table.rows[0].cells[1].text = "値"
    document.save(str(path))
    return path


def write_zip_bomb(path: Path, unpacked_bytes: int) -> Path:
    """A "DOCX" whose one part is `unpacked_bytes` of zeros, packed about a thousand to one."""
    block = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/document.xml", "w") as part,
    ):
        for _ in range(unpacked_bytes >> 20):
            part.write(block)
    return path


# A small corpus in both languages: each question's answer sits in one file only, in words the
# question does not share with the other files.
CORPUS = {
    "handbook.md": (
        "# 社員ハンドブック\n\n## 休暇\n\n年次有給休暇は入社半年後に十日付与されます。"
        "申請は三日前までに上長へ提出してください。\n\n## 経費\n\n"
        "交通費の精算は毎月末までに経費システムで申請します。領収書の写真を添付してください。\n"
    ),
    "security.md": (
        "# Security policy\n\n## Passwords\n\nPasswords must be at least sixteen characters and"
        " are rotated only after a suspected leak.\n\n## Laptops\n\nLaptops lock after five"
        " minutes idle and their disks are encrypted.\n"
    ),
    "minutes.txt": (
        "Meeting minutes, June.\n\nThe team agreed to move the release of version two to"
        " September because the database migration needs more testing.\n"
    ),
    "office.html": (
        "<h1>オフィス案内</h1><p>本社は大阪市北区にあり、最寄り駅は梅田駅です。</p>"
        "<h2>会議室</h2><p>会議室の予約はカレンダーから行います。</p>"
    ),
}
QUESTIONS = [
    ("有給休暇はいつもらえますか？", "handbook.md"),
    ("交通費はどうやって精算しますか？", "handbook.md"),
    ("How long must a password be?", "security.md"),
    ("When is version two released?", "minutes.txt"),
    ("What happens to an idle laptop?", "security.md"),
]


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
