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


# The recall corpus: two handbooks, one Japanese and one English, each a file of short sections
# on neighbouring subjects (leave, money, devices, travel...), so a question has near misses to
# beat. Each question is worded apart from its passage, which is named by a phrase only it holds.
RECALL_CORPUS = {
    "社内規程.md": """# 社内規程

## 年次有給休暇
年次有給休暇は入社から六か月後に十日付与され、翌年度まで繰り越せます。

## 経費精算
立て替えた交通費は月末までに経費システムで申請し、領収書の画像を添付します。

## 在宅勤務
在宅勤務は週三日まで認められ、始業と終業の連絡をチャットで行います。

## 健康診断
定期健康診断は毎年十月に実施され、受診しない場合は産業医から連絡があります。

## 出張
国内出張の宿泊費は一泊一万二千円を上限とし、新幹線は普通車を利用します。

## 育児休業
育児休業は子が一歳六か月になるまで取得でき、復職前に人事と面談します。

## 退職手続き
退職を希望する場合は一か月前までに退職届を提出し、社員証とパソコンを返却します。

## 防災
地震が起きたら机の下に身を隠し、揺れが収まってから非常階段で一階へ避難します。

## 研修
新入社員研修は四月に二週間行われ、ビジネスマナーと情報セキュリティを学びます。

## 名刺
名刺の発注は総務部のフォームから行い、届くまで五営業日かかります。

## 社員食堂
社員食堂は十一時半から十四時まで営業し、社員証で支払います。

## 通勤手当
通勤手当は最も経済的な経路の定期代を上限として毎月の給与と一緒に支給されます。
""",
    "handbook.md": """# Engineering handbook

## On-call
Each engineer is on call for one week every two months and must acknowledge a page within
fifteen minutes.

## Code review
Every change needs the approval of one reviewer who did not write it before it is merged.

## Deployments
Production deploys happen from Monday to Thursday; nothing is deployed on Fridays.

## Incidents
After an outage the team writes a blameless postmortem within five working days.

## Backups
The database is backed up every night and a restore is rehearsed once a quarter.

## Laptops
Laptops lock after five minutes idle and their disks are encrypted.

## Passwords
Passwords must be at least sixteen characters and live in the company password manager.

## Expenses
Conference tickets and books are reimbursed up to eight hundred euros a year.

## Travel
Flights longer than six hours may be booked in premium economy.

## Onboarding
A new hire gets a mentor and ships a small change in the first week.

## Releases
The mobile app is released every second Tuesday after the regression suite passes.

## Holidays
Staff receive twenty-five days of paid vacation plus public holidays.
""",
}
# (question, a phrase of the one passage that answers it)
RECALL_QUESTIONS = [
    ("有休は入社してどのくらいで使えるようになりますか？", "六か月後に十日"),
    ("電車代を立て替えたときはどう払い戻してもらいますか？", "経費システム"),
    ("自宅で働けるのは一週間に何日までですか？", "週三日"),
    ("会社の健診はいつありますか？", "毎年十月"),
    ("出張でホテルに泊まるときの上限額は？", "一万二千円"),
    ("子どもが生まれたら仕事をどれくらい休めますか？", "一歳六か月"),
    ("会社を辞めるときは何を返しますか？", "社員証とパソコンを返却"),
    ("揺れを感じたらどう行動すればよいですか？", "机の下"),
    ("新卒向けの教育はいつ行われますか？", "四月に二週間"),
    ("名刺を作りたいのですがどこに頼めばいいですか？", "総務部のフォーム"),
    ("お昼ご飯を社内で食べられるのは何時までですか？", "十四時まで"),
    ("定期券の費用は会社が負担してくれますか？", "定期代を上限"),
    ("How quickly do I have to respond when I get paged at night?", "fifteen minutes"),
    ("Can I merge my pull request without anyone looking at it?", "one reviewer"),
    ("Is it allowed to ship to production at the end of the week?", "Fridays"),
    ("What do we write after the site went down?", "blameless postmortem"),
    ("How often is the data saved so it can be recovered?", "every night"),
    ("What protects my computer if I leave my desk?", "five minutes idle"),
    ("How long does my login secret have to be?", "sixteen characters"),
    ("Will the company pay for a training conference?", "eight hundred euros"),
    ("Which cabin class can I book for a long-haul flight?", "premium economy"),
    ("What happens in a newcomer's first days?", "mentor"),
    ("How often does a new version of the phone app come out?", "second Tuesday"),
    ("How many days off do employees get each year?", "twenty-five days"),
]
# Questions about nothing in the recall corpus: what they score sets the threshold.
UNRELATED_QUESTIONS = [
    "明日の東京の天気はどうなりますか？",
    "おいしいラーメンの作り方を教えてください。",
    "日本で一番高い山は何ですか？",
    "猫が一日に寝る時間はどれくらいですか？",
    "What will the weather be like tomorrow?",
    "Who wrote the novel Moby-Dick?",
    "How do I bake sourdough bread?",
    "What is the capital of Australia?",
]


def write_recall_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in RECALL_CORPUS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
