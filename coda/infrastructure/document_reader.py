"""An uploaded file read into sections by a process of its own, within a time and memory budget.

The web worker runs every request on one thread (gevent): a parser computing in it stalls every
answer streaming on the worker, and pypdf, python-docx and lxml cannot be interrupted safely
mid-call. So the worker never parses an upload. It starts `coda.knowledge.reader_process`, hands
it the bytes on a pipe and waits on the pipes through the event loop (under gevent's monkey
patching `subprocess` and `selectors` are cooperative: other greenlets run meanwhile); the child
caps its own memory, CPU time, file writes and children before reading a byte, and is killed at
the wall-clock deadline. At most `MAX_READERS` children run at once per worker; a request that
finds no free one within `UploadLimits.wait_seconds` is refused "busy".

The child gets a bare environment (no settings, no secrets: a parser exploited by a hostile file
finds nothing to send) and the same Python and the same coda as the worker.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import coda
from coda.knowledge.documents import Section, kind_of
from coda.knowledge.reader_process import output_limit

# Children reading at once in one worker: each may take `memory_bytes` and a CPU.
MAX_READERS = 2
# The directory that holds the `coda` package: the child imports the worker's own code.
CODE_ROOT = Path(coda.__file__).resolve().parent.parent
# What of the child's standard error goes to the log, at most.
STDERR_BYTES = 4096
PIPE_CHUNK = 1 << 16
# Signals that end a child over its CPU time: SIGXCPU at the soft limit, SIGKILL at the hard one
# (and from us at the deadline).
OVER_TIME = frozenset({int(signal.SIGXCPU), int(signal.SIGKILL)})
REASONS = frozenset(
    {
        "too_large",
        "unsupported",
        "no_text",
        "no_text_layer",
        "too_many_pages",
        "encrypted",
        "bomb",
        "too_slow",
        "too_much_memory",
        "unreadable",
        "busy",
    }
)


@dataclass(frozen=True, kw_only=True)
class UploadLimits:
    """What reading one upload may cost: `max_bytes` of upload, `max_pages` of a PDF, `seconds`
    of wall-clock time from the child's start to its answer (start-up included), `memory_bytes`
    of the child's address space, `max_chars` of text (headings repeated under them included);
    `wait_seconds` for a free reader before the upload is refused "busy"."""

    max_bytes: int
    max_pages: int
    seconds: float
    memory_bytes: int = 512 * 1024 * 1024
    max_chars: int = 2_000_000
    wait_seconds: float = 3.0


@dataclass(frozen=True)
class ReadFile:
    """An upload's text: `kind` one of "pdf", "docx", "markdown", "text", "html", "code";
    `sections` with text, in document order; `pages` a PDF's page count (blank pages included),
    else None; `chars` the sections' characters."""

    kind: str
    sections: tuple[Section, ...]
    pages: int | None
    chars: int


class UploadRefused(Exception):
    """An upload that is not read. `reason` (one of `REASONS`) picks the message a person sees,
    `params` the figures it may quote; `detail` is for the log only: a parser's message in it may
    quote a few dozen bytes of the file, so it belongs where the conversation's text may go.

    Params by reason: too_large `{"limit", "size": int, "unit": "bytes" | "chars"}` ("size" is
    missing when the child's whole answer overflowed); unsupported `{"suffix": str}`;
    too_many_pages `{"limit", "pages": int}`; bomb `{"limit", "size": int}` (bytes unpacked) or
    `{"limit", "ratio": int}` (compression); too_slow `{"seconds": str}`; too_much_memory
    `{"limit": int}` (bytes); busy `{"readers": int}` (0: no reader could be started); the rest
    `{}`."""

    def __init__(
        self, reason: str, detail: str, params: dict[str, int | str] | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.params: dict[str, int | str] = params or {}


def read_upload(data: bytes, filename: str, limits: UploadLimits) -> ReadFile:
    """`data`, the content of a file named `filename`, read into sections by a child process;
    raises `UploadRefused` for anything it does not read, never another exception. Returns within
    `limits.wait_seconds + limits.seconds` and a few milliseconds."""
    kind = kind_of(filename)
    if kind is None:
        suffix = Path(filename).suffix.lower()
        raise UploadRefused("unsupported", f"name {filename[:100]!r}", {"suffix": suffix})
    if len(data) > limits.max_bytes:
        params: dict[str, int | str] = {
            "limit": limits.max_bytes,
            "size": len(data),
            "unit": "bytes",
        }
        raise UploadRefused("too_large", f"{len(data)} bytes", params)
    if not data.strip():
        raise UploadRefused("no_text", "empty file")
    slots = _slots()
    if not slots.acquire(timeout=limits.wait_seconds):
        raise UploadRefused(
            "busy", f"no reader free in {limits.wait_seconds:g} s", {"readers": MAX_READERS}
        )
    try:
        outcome = _run(data, kind, limits)
    except OSError as exc:  # a pipe failing otherwise than by the child's end: not the file's
        raise UploadRefused("busy", f"the reader's pipes failed: {exc}", {"readers": 0}) from exc
    finally:
        slots.release()
    return _answer(kind, outcome, limits)


@functools.cache
def _slots() -> threading.BoundedSemaphore:
    """Made at the first upload, in a request, so after gevent's monkey patching: a patched
    semaphore waits in the event loop, not on the thread."""
    return threading.BoundedSemaphore(MAX_READERS)


@dataclass
class _Outcome:
    out: bytes = b""
    err: bytes = b""
    returncode: int | None = None
    timed_out: bool = False
    overflowed: bool = False
    spent: float = 0.0


def _run(data: bytes, kind: str, limits: UploadLimits) -> _Outcome:
    started = time.monotonic()
    deadline = started + limits.seconds
    arguments = {
        "max_bytes": limits.max_bytes,
        "max_pages": limits.max_pages,
        "max_chars": limits.max_chars,
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": limits.seconds + 1,
        "deadline": deadline,
    }
    try:
        child = subprocess.Popen(
            [
                sys.executable,
                "-E",  # no PYTHON* variables
                "-s",  # no user site-packages
                "-m",
                "coda.knowledge.reader_process",
                kind,
                json.dumps(arguments),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=CODE_ROOT,
            env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},
        )
    except OSError as exc:  # no process left to start: the machine's trouble, not the file's
        raise UploadRefused("busy", f"cannot start a reader: {exc}", {"readers": 0}) from exc
    return _exchange(child, data, deadline, output_limit(limits.max_chars), started)


def _exchange(
    child: subprocess.Popen[bytes], data: bytes, deadline: float, max_out: int, started: float
) -> _Outcome:
    """Feed `data` to the child and gather its output until both pipes close, the output passes
    `max_out` bytes or `deadline` passes; the child is dead when this returns."""
    outcome = _Outcome()
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stderr is not None
    fd_in, fd_out, fd_err = child.stdin.fileno(), child.stdout.fileno(), child.stderr.fileno()
    out, err = bytearray(), bytearray()
    pending = memoryview(data)
    selector = selectors.DefaultSelector()  # gevent's own once `selectors` is patched
    try:
        for fd in (fd_in, fd_out, fd_err):
            os.set_blocking(fd, False)
        selector.register(fd_in, selectors.EVENT_WRITE)
        selector.register(fd_out, selectors.EVENT_READ)
        selector.register(fd_err, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = True
                break
            for key, _ in selector.select(remaining):
                if key.fd == fd_in:
                    try:
                        pending = pending[os.write(fd_in, pending[:PIPE_CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except OSError as exc:  # the child ended before reading it all
                        if exc.errno != errno.EPIPE:
                            raise
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(fd_in)
                        child.stdin.close()
                    continue
                try:
                    chunk = os.read(key.fd, PIPE_CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                elif key.fd == fd_out:
                    out += chunk
                    if len(out) > max_out:
                        outcome.overflowed = True
                        selector.close()
                        break
                elif len(err) < STDERR_BYTES:
                    err += chunk[: STDERR_BYTES - len(err)]
            if outcome.overflowed:
                break
        if not outcome.timed_out and not outcome.overflowed:
            try:
                child.wait(max(deadline - time.monotonic(), 0.001))
            except subprocess.TimeoutExpired:
                outcome.timed_out = True
    finally:
        selector.close()
        if child.poll() is None:
            child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout, child.stderr):
            pipe.close()
    outcome.out, outcome.err, outcome.returncode = bytes(out), bytes(err), child.returncode
    outcome.spent = time.monotonic() - started
    return outcome


def _answer(kind: str, outcome: _Outcome, limits: UploadLimits) -> ReadFile:
    """The child's answer as a `ReadFile`, or the `UploadRefused` its end calls for."""
    where = f"after {outcome.spent:.2f} s, exit {outcome.returncode}"
    if outcome.timed_out:
        raise UploadRefused(
            "too_slow", f"killed at the deadline, {where}", {"seconds": f"{limits.seconds:g}"}
        )
    if outcome.overflowed:
        raise UploadRefused("unreadable", f"answer over {len(outcome.out)} bytes, {where}")
    code = outcome.returncode or 0
    if -code in OVER_TIME:
        raise UploadRefused("too_slow", f"CPU limit, {where}", {"seconds": f"{limits.seconds:g}"})
    try:
        reply = json.loads(outcome.out)
        if "error" in reply:
            error = reply["error"]
            reason = error["reason"] if error["reason"] in REASONS else "unreadable"
            params = {k: v for k, v in error["params"].items() if isinstance(v, int | str)}
            if reason == "too_much_memory":
                params = {"limit": limits.memory_bytes}
            elif reason == "too_slow":  # the child's timer names the time it had left
                params = {"seconds": f"{limits.seconds:g}"}
            raise UploadRefused(reason, f"{error['detail']}, {where}", params)
        sections = tuple(
            Section(text, tuple(heading), page) for text, heading, page in reply["sections"]
        )
        return ReadFile(kind, sections, reply["pages"], reply["chars"])
    except (ValueError, KeyError, TypeError) as exc:  # no answer: the child died
        stderr = outcome.err.decode("utf-8", "replace")
        if "MemoryError" in stderr:
            raise UploadRefused(
                "too_much_memory", f"{where}: {stderr}", {"limit": limits.memory_bytes}
            ) from exc
        raise UploadRefused("unreadable", f"no answer {where}: {stderr}") from exc
