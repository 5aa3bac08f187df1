"""What reading an upload costs: the child process's start-up and a typical file's read.

    python -m benchmarks.upload_reading [--repeat 15]

Each file is read `--repeat` times through `read_upload` (a child process each time, as an upload
is) and the median and fastest wall times are printed. A 5-byte text file measures the start-up
alone (Python, coda's readers; no pypdf, no python-docx); a one-line PDF and DOCX add their
library's import; a 20-page PDF and a 200-paragraph DOCX are typical attachments.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from coda.infrastructure.document_reader import UploadLimits, read_upload
from tests.support.documents import write_docx, write_pdf

LIMITS = UploadLimits(max_bytes=32 << 20, max_pages=2000, seconds=30)


def files(where: Path) -> dict[str, bytes]:
    paragraphs = [("Heading 1" if n % 20 == 0 else "", "本文の段落です。" * 10) for n in range(200)]
    return {
        "5-byte.txt": b"hello",
        "1-line.pdf": write_pdf(where / "a.pdf", ["hello"]).read_bytes(),
        "1-line.docx": write_docx(where / "a.docx", [("", "hello")]).read_bytes(),
        "20-page.pdf": write_pdf(
            where / "b.pdf", [f"Line of page {n} " * 4 for n in range(20)]
        ).read_bytes(),
        "200-paragraph.docx": write_docx(where / "b.docx", paragraphs).read_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as made:
        for name, data in files(Path(made)).items():
            times = []
            for _ in range(repeat):
                started = time.monotonic()
                read_upload(data, name, LIMITS)
                times.append(time.monotonic() - started)
            print(
                f"{name:20} {len(data):>7} bytes"
                f"  median {statistics.median(times) * 1000:4.0f} ms"
                f"  fastest {min(times) * 1000:4.0f} ms"
            )


if __name__ == "__main__":
    main()
