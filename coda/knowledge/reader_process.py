"""The program that reads one uploaded file, alone in a process of its own:
`python -m coda.knowledge.reader_process KIND LIMITS_JSON`, the file's bytes on standard input,
one JSON object on standard output.

Why a process: the web worker runs every request on one thread (gevent), and pypdf, python-docx
and lxml can neither be interrupted safely mid-call nor bounded in memory from inside. Here the
operating system bounds them: the process caps its own address space, CPU time, file writes and
children (`resource.setrlimit`) before it reads a byte of the file, and its parent
(`coda.infrastructure.document_reader`) kills it at the wall-clock deadline. A signal timer
(`time_limit`) ends a slow read a little earlier still, so that most slow files are named
"too_slow" by the reader itself.

LIMITS_JSON: `{"max_bytes", "max_pages", "max_chars", "memory_bytes", "cpu_seconds": int,
"deadline": float}`, the deadline on `time.monotonic()`'s clock (one clock for every process on
Linux). Standard output, at most `output_limit(max_chars)` bytes of UTF-8:

- `{"sections": [[text, [heading, ...], page or null], ...], "pages": int or null, "chars": int}`
- `{"error": {"reason": str, "detail": str, "params": {name: int or str}}}`, reasons as
  `UnreadableError.code`, plus "no_text" and "no_text_layer" (a PDF without any text: a scan).

Only the standard library is imported before the limits are set; pypdf and python-docx are
imported by their readers, for their kinds alone, so a text file's process starts fastest.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from typing import Any

MIB = 1 << 20
# Hard-coded bytes, written without allocating when memory has run out.
OUT_OF_MEMORY = b'{"error": {"reason": "too_much_memory", "detail": "MemoryError", "params": {}}}'
# Between the reader's own timer and its parent's kill: time to write its answer.
ANSWER_SECONDS = 0.1


def output_limit(max_chars: int) -> int:
    """The most bytes an answer may take: each character of text or heading at most 6 bytes of
    JSON (`\\u0000`), with a mebibyte for the structure around them."""
    return 6 * max_chars + MIB


def limit_self(memory_bytes: int, cpu_seconds: int) -> None:
    """Caps this process before it reads the file: address space (an allocation past it raises
    `MemoryError`), CPU time (SIGXCPU at the soft limit, SIGKILL a second later), no file written,
    no core dumped, no process started; and it yields the CPU to the web worker that started it
    (niceness 10), whose answers stream meanwhile."""
    os.nice(10)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def answer(data: bytes, kind: str, limits: dict[str, Any]) -> dict[str, Any]:
    """The JSON object for `data` read as `kind`: its sections, or the reason it is refused."""
    from coda.knowledge.documents import kept, read_sections
    from coda.knowledge.limits import ReadLimits, UnreadableError

    seconds = limits["deadline"] - time.monotonic() - ANSWER_SECONDS
    if seconds <= 0:
        return _error("too_slow", "no time left after start-up", {})
    read_limits = ReadLimits(
        max_file_bytes=limits["max_bytes"],
        # A DOCX's XML, parsed by lxml, takes a few times its size: past a quarter of the memory
        # cap it is refused as a bomb before it is inflated, not stopped midway.
        max_unpacked_bytes=min(256 * MIB, limits["memory_bytes"] // 4),
        max_pages=limits["max_pages"],
        max_chars=limits["max_chars"],
        seconds=seconds,
    )
    try:
        every = read_sections(data, kind, read_limits)
        found = kept(every, read_limits)
    except UnreadableError as exc:
        return _error(exc.code, str(exc), exc.params)
    pages = len(every) if kind == "pdf" else None  # the PDF reader gives one section a page
    if not found:
        return _error("no_text_layer" if kind == "pdf" else "no_text", "no text", {})
    # Headings repeat in every section under them: counted too, so the answer stays bounded.
    written = sum(len(s.text) + sum(len(h) for h in s.heading) for s in found)
    if written > read_limits.max_chars:
        limit = read_limits.max_chars
        return _error(
            "too_large",
            f"{written} characters of text and headings",
            {"limit": limit, "size": written, "unit": "chars"},
        )
    return {
        "sections": [[s.text, list(s.heading), s.page] for s in found],
        "pages": pages,
        "chars": sum(len(s.text) for s in found),
    }


def _error(reason: str, detail: str, params: dict[str, int | str]) -> dict[str, Any]:
    return {"error": {"reason": reason, "detail": detail[:500], "params": params}}


def main(argv: list[str]) -> None:
    kind, limits = argv[0], json.loads(argv[1])
    limit_self(limits["memory_bytes"], max(1, math.ceil(limits["cpu_seconds"])))
    try:
        data = sys.stdin.buffer.read(limits["max_bytes"] + 1)
        reply = answer(data, kind, limits)
        # Text from a PDF may hold lone surrogates, which UTF-8 cannot carry.
        encoded = json.dumps(reply, ensure_ascii=False).encode("utf-8", "replace")
        if len(encoded) > output_limit(limits["max_chars"]):
            encoded = json.dumps(
                _error(
                    "too_large",
                    f"{len(encoded)} bytes of answer",
                    {"limit": limits["max_chars"], "unit": "chars"},
                )
            ).encode()
    except MemoryError:
        os.write(1, OUT_OF_MEMORY)
        os._exit(0)
    sys.stdout.buffer.write(encoded)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
