"""Many chats at once, measured from the client's side: one asyncio process, raw HTTP/1.1.

    python -m benchmarks.load coda   --url http://127.0.0.1:8080 --chats 500
    python -m benchmarks.load direct --url http://127.0.0.1:11500 --chats 500 --model m
    python -m benchmarks.load probe  --url http://127.0.0.1:8080 --seconds 30

`coda`: each chat loads the page first (its own cookie and CSRF token, as a browser would), then
all chats post `/chat` in the same instant and read the Server-Sent Events to `done`. `direct`: the
same chats straight to the model server's `/api/chat` NDJSON stream. `probe`: what a health check
sees meanwhile, a fresh connection every 100 ms to `/healthz`, `/readyz`, `/` and a static file in
turn. Prints one JSON object; the ladder (`benchmarks/serving_ladder.py`) compares them. A thin
client on purpose: httpx would spend the CPU the server under test needs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlsplit

TEXT_EVENT = re.compile(rb'-(?:body|source)" hx-swap="beforeend"')  # raw or live-formatted
CSRF_META = re.compile(rb'<meta name="csrf-token" content="([^"]+)"')
QUESTION = "日本の首都はどこですか？"


@dataclass
class Answer:
    """One chat as its client saw it; times in seconds from sending the request."""

    ok: bool = False
    opened: float | None = None  # the first event: coda has taken the request
    first: float | None = None
    end: float | None = None
    max_gap: float = 0.0
    events: int = 0
    bytes: int = 0  # of the response body, as sent (chunked framing included)
    error: str = ""


@dataclass
class Session:
    cookie: str
    token: str


@dataclass
class Report:
    answers: list[Answer] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


async def _request(
    host: str, port: int, request: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, dict[str, str]]:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(request)
    await writer.drain()
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return reader, writer, status, headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """The body as it arrives: chunked, sized, or to the end of the connection."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while data := await reader.read(65536):
            yield data


async def open_session(host: str, port: int) -> Session:
    """GET / like a browser: the session cookie and the page's CSRF token."""
    head = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    reader, writer, status, headers = await _request(host, port, head)
    page = b"".join([part async for part in _body(reader, headers)])
    writer.close()
    found = CSRF_META.search(page)
    if status != 200 or found is None:
        raise RuntimeError(f"GET / answered {status} without a CSRF token")
    cookie = headers.get("set-cookie", "").split(";", 1)[0]
    return Session(cookie, found.group(1).decode())


async def _answer(
    host: str,
    port: int,
    request: bytes,
    timeout: float,
    separator: bytes,
    kind: Callable[[bytes], str],
) -> Answer:
    """Send `request` and read the streamed answer: `kind` names each piece between separators
    (`skip`, `done`, `error`, `text`, or anything else for a piece that is none of those)."""
    answer = Answer()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer, status, headers = await _request(host, port, request)
            if status != 200:
                answer.error = f"HTTP {status}"
                return answer
            buffer = b""
            last_text: float | None = None
            async for data in _body(reader, headers):
                answer.bytes += len(data)
                buffer += data
                *pieces, buffer = buffer.split(separator)
                now = time.perf_counter() - started
                for piece in pieces:
                    found = kind(piece)
                    if found == "skip":
                        continue
                    answer.events += 1
                    if answer.opened is None:
                        answer.opened = now
                    if found == "done":
                        answer.ok, answer.end = True, now
                    elif found == "error":
                        answer.error = piece[:200].decode(errors="replace")
                    elif found == "text":
                        if last_text is None:
                            answer.first = now
                        else:
                            answer.max_gap = max(answer.max_gap, now - last_text)
                        last_text = now
            writer.close()
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        answer.error = f"{type(exc).__name__}: {exc}"
    if not answer.ok and not answer.error:
        answer.error = "the stream ended without done"
    return answer


def _sse_kind(frame: bytes) -> str:
    if frame.startswith(b":"):
        return "skip"  # a heartbeat
    if frame.startswith(b"event: done"):
        return "done"
    if frame.startswith(b"event: error"):
        return "error"
    return "text" if TEXT_EVENT.search(frame) else "other"


def _ndjson_kind(line: bytes) -> str:
    if b'"done": true' in line or b'"done":true' in line:
        return "done"
    return "other" if b'"content": ""' in line or b'"content":""' in line else "text"


async def chat_through_coda(host: str, port: int, session: Session, timeout: float) -> Answer:
    form = f"message={quote(QUESTION)}&history=%5B%5D".encode()
    head = (
        f"POST /chat HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n"
        f"Cookie: {session.cookie}\r\nX-CSRFToken: {session.token}\r\nHX-Request: true\r\n\r\n"
    ).encode()
    return await _answer(host, port, head + form, timeout, b"\n\n", _sse_kind)


async def chat_direct(host: str, port: int, model: str, timeout: float) -> Answer:
    payload = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    ).encode()
    head = (
        f"POST /api/chat HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    return await _answer(host, port, head + payload, timeout, b"\n", _ndjson_kind)


async def run_chats(
    mode: str, url: str, chats: int, model: str, timeout: float, pause: float = 0.0
) -> Report:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    cpu_before = time.process_time()
    if mode == "coda":
        # Sessions first, a few at a time, so the burst below is only the chats.
        gate = asyncio.Semaphore(32)

        async def session() -> Session:
            async with gate:
                return await open_session(host, port)

        sessions = await asyncio.gather(*(session() for _ in range(chats)))
        await asyncio.sleep(pause)
        cpu_before = time.process_time()
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(chat_through_coda(host, port, s, timeout) for s in sessions)
        )
    else:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(chat_direct(host, port, model, timeout) for _ in range(chats))
        )
    return Report(list(answers), time.process_time() - cpu_before, time.perf_counter() - started)


def probe(url: str, seconds: float, interval: float = 0.1) -> dict[str, list[float]]:
    """Latency of each probe path, a fresh connection each time, as Cloud Run's probes do."""
    parts = urlsplit(url)
    paths = ["/healthz", "/readyz", "/", "/static/coda.css"]
    seen: dict[str, list[float]] = {path: [] for path in paths}
    deadline = time.monotonic() + seconds
    index = 0
    while time.monotonic() < deadline:
        path = paths[index % len(paths)]
        index += 1
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection(parts.netloc, timeout=10)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            ok = response.status in (200, 503)  # /readyz may say "not ready"; it answered
        except OSError:
            ok = False
        elapsed = time.perf_counter() - started
        seen[path].append(elapsed if ok else 10.0)
        with contextlib.suppress(ValueError):
            time.sleep(max(0.0, interval - elapsed))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["coda", "direct", "probe"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--chats", type=int, default=16)
    parser.add_argument("--model", default="coda-bench:1")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds after the page loads")
    args = parser.parse_args()
    if args.mode == "probe":
        print(json.dumps(probe(args.url, args.seconds)))
        return
    report = asyncio.run(
        run_chats(args.mode, args.url, args.chats, args.model, args.timeout, args.pause)
    )
    print(json.dumps({**asdict(report), "pid": os.getpid()}))


if __name__ == "__main__":
    main()
