"""Each format read into sections with its headings or pages, on files the tests make; hostile
files named and refused within their bounds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from coda.knowledge.chunks import passages, sentences
from coda.knowledge.documents import Section, markdown_sections, read_document, supported
from coda.knowledge.limits import ReadLimits, UnreadableError
from tests.support.documents import write_docx, write_pdf, write_zip_bomb

LIMITS = ReadLimits()


def test_markdown_keeps_its_heading_path_and_ignores_hashes_in_code(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("intro\n# 第一章\none\n## 節\n```\n# code\n```\ntwo\n# Next\nthree\n")

    sections = read_document(path, LIMITS)

    assert [s.heading for s in sections] == [(), ("第一章",), ("第一章", "節"), ("Next",)]
    assert "# code" in sections[2].text


def test_shift_jis_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("議事録です。".encode("cp932"))

    assert read_document(path, LIMITS) == [Section("議事録です。")]


def test_html_drops_scripts_and_follows_headings(tmp_path: Path) -> None:
    path = tmp_path / "p.html"
    path.write_text(
        "<html><head><title>t</title><style>p{}</style></head><body><h1>案内</h1>"
        "<p>本文&amp;続き</p><script>alert(1)</script><h2>詳細</h2><ul><li>a</li><li>b</li></ul>"
    )

    sections = read_document(path, LIMITS)

    assert [s.heading for s in sections] == [("案内",), ("案内", "詳細")]
    assert "本文&続き" in sections[0].text
    assert "alert" not in "".join(s.text for s in sections)


def test_docx_headings_and_tables(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "d.docx",
        [("Heading 1", "規程"), ("", "第一条の本文。"), ("Heading 2", "附則"), ("", "施行日。")],
    )

    sections = read_document(path, LIMITS)

    assert (("規程",), "第一条の本文。") in [(s.heading, s.text.strip()) for s in sections]
    assert any(s.heading == ("規程", "附則") and "施行日" in s.text for s in sections)
    assert any("名前 | 値" in s.text for s in sections)


def test_pdf_text_comes_with_its_page(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "p.pdf", ["First page text", "Second page text"])

    sections = read_document(path, LIMITS)

    assert [(s.page, s.text.strip()) for s in sections] == [
        (1, "First page text"),
        (2, "Second page text"),
    ]


def test_a_pdf_over_the_page_limit_is_refused(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "long.pdf", ["x"] * 5)

    with pytest.raises(UnreadableError, match="5 pages"):
        read_document(path, ReadLimits(max_pages=4))


def test_a_zip_bomb_docx_is_refused_before_it_unpacks(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.docx", 64 << 20)

    with pytest.raises(UnreadableError, match="zip bomb"):
        read_document(bomb, LIMITS)
    with pytest.raises(UnreadableError, match="unpacks to"):
        read_document(bomb, ReadLimits(max_unpacked_bytes=32 << 20))


def test_broken_and_unknown_files_are_named_not_raised(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "big.txt").write_text("x" * 100)

    with pytest.raises(UnreadableError):
        read_document(tmp_path / "broken.pdf", LIMITS)
    with pytest.raises(UnreadableError, match=r"\.png"):
        read_document(tmp_path / "image.png", LIMITS)
    with pytest.raises(UnreadableError, match="bytes"):
        read_document(tmp_path / "big.txt", ReadLimits(max_file_bytes=10))


def test_reading_stops_at_its_time_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.html"
    path.write_text("<p>" + "<b>語</b>" * 2_000_000)

    with pytest.raises(UnreadableError, match="longer than"):
        read_document(path, ReadLimits(seconds=0.05))


def test_a_pdf_reader_that_catches_exceptions_still_stops_at_the_time_limit(
    tmp_path: Path,
) -> None:
    path = write_pdf(tmp_path / "long.pdf", [f"Page {n}" for n in range(2000)])  # about 2 s

    started = time.monotonic()
    with pytest.raises(UnreadableError, match="longer than") as caught:
        read_document(path, ReadLimits(seconds=0.2))

    assert time.monotonic() - started < 1
    assert caught.value.code == "too_slow"


def test_source_code_and_build_files_are_read_whole(tmp_path: Path) -> None:
    code = tmp_path / "tool.PY"
    code.write_text("# not a heading\nprint(1)\n")
    (tmp_path / "Dockerfile").write_text("FROM debian\n")

    assert read_document(code, LIMITS) == [Section("# not a heading\nprint(1)\n")]
    assert supported(tmp_path / "Dockerfile")
    assert supported(tmp_path / "x.tsx")
    assert not supported(tmp_path / "photo.png")


def test_sentences_end_at_japanese_and_latin_marks() -> None:
    text = "東京は首都です。大阪は？「そうだ！」と言った。Pi is 3.14 here. Done"

    assert list(sentences(text)) == [
        "東京は首都です。",
        "大阪は？",
        "「そうだ！」",
        "と言った。",
        "Pi is 3.14 here.",
        "Done",
    ]


def test_passages_pack_paragraphs_and_cut_long_ones_at_sentences() -> None:
    long = "これは文です。" * 30  # 210 characters
    sections = [Section(f"短い段落。\n\n次の段落。\n\n{long}", ("章",), page=3)]

    found = passages(sections, max_chars=100)

    assert found[0].text.startswith("短い段落。\n次の段落。\nこれは文です。")
    assert all(len(p.text) <= 100 for p in found)
    assert len(found) == 3  # 220 characters of sentences, none cut mid-way
    assert all(p.text.endswith("。") for p in found)
    assert "".join(p.text for p in found).replace("\n", "") == "短い段落。次の段落。" + long
    assert {(p.heading, p.page) for p in found} == {(("章",), 3)}


def test_a_sentence_longer_than_a_passage_is_cut() -> None:
    found = passages([Section("あ" * 250)], max_chars=100)

    assert [len(p.text) for p in found] == [100, 100, 50]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("# Title", ("Title",)),
        ("## C#", ("C#",)),
        ("### Closed ###", ("Closed",)),
        ("#  spaced  #  ", ("spaced",)),
        ("   # indented three", ("indented three",)),
        ("#nope", ()),
        ("####### seven", ()),
        ("    # four spaces: code", ()),
    ],
)
def test_atx_headings_follow_commonmark(line: str, heading: tuple[str, ...]) -> None:
    *_, last = markdown_sections(f"{line}\nbody")

    assert last.heading == heading


def test_a_line_of_heading_marks_is_a_heading_of_the_marks_before_its_closing_run() -> None:
    """`(.*?)[ \\t#]*$` was quadratic on this line (it ran out of the reader's time in the
    no-stall test); the closing run is now stripped from the end, once."""
    pairs = 200_000

    (_, section) = markdown_sections(" #" * pairs)

    assert section.heading == (" ".join(["#"] * (pairs - 2)),)
