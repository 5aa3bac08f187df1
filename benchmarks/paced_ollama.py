"""An Ollama look-alike that streams hundreds of answers at once at a fixed pace, for load tests.

    python -m benchmarks.paced_ollama --port 11500 --tokens 200 --rate 10 --first 0.2

It speaks the wire format coda's adapter reads from a real Ollama (`GET /api/version`,
`POST /api/show`, and `POST /api/chat` streaming NDJSON `ChatResponse` lines in chunked encoding,
ending with a `done` line that carries the counters), so the web tier under test runs its real
client code. It exists because a real model on two cores cannot stream 500 answers at 10 tokens/s;
what is measured with it is coda's own cost. One asyncio loop serves every connection: a thread
per stream would spend the CPU the measurement needs. `GET /stats` says how many streams were
started, finished and cancelled by their client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass

from tests.support.ollama_stub import SHOW_BODY, chat_line

# Realistic pieces: Japanese, ASCII, Markdown and characters that must be escaped.
TOKENS = ["日本", "の", "首都", "は", "東京", "です", "。", " The", " answer", " is", " **bold**",
          " <b>", "&", "\n", "コード", "`x`"]  # fmt: skip
# Every 50th token ends a paragraph, as a chat model's answers come in paragraphs: a streaming
# answer's formatting renders the finished ones once and only the last one again.
PARAGRAPH_TOKENS = 50


@dataclass
class Stats:
    started: int = 0
    finished: int = 0
    cancelled: int = 0

    @property
    def open(self) -> int:
        return self.started - self.finished - self.cancelled


@dataclass(frozen=True)
class Pace:
    tokens: int
    rate: float  # tokens per second
    first: float  # seconds before the first token


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class PacedOllama:
    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.stats = Stats()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        if method == "GET" and path == "/api/version":
            await self._json(writer, {"version": "0.17.4"})
        elif method == "GET" and path == "/stats":
            await self._json(writer, {**asdict(self.stats), "open": self.stats.open})
        elif method == "POST" and path == "/api/show":
            await self._json(writer, SHOW_BODY)
        elif method == "POST" and path == "/api/chat":
            model = json.loads(body or b"{}").get("model", "")
            await self._stream(reader, writer, model)
        else:
            await self._json(writer, {"error": "not found"}, status=404)
        return headers.get("connection", "").lower() != "close"

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, model: str
    ) -> None:
        self.stats.started += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        # A client that hangs up is noticed at once, also between tokens, as Ollama does.
        hangup = asyncio.ensure_future(reader.read(1))
        started = time.monotonic()
        try:
            for index in range(self.pace.tokens + 1):
                due = started + self.pace.first + index / self.pace.rate
                wait = due - time.monotonic()
                if wait > 0:
                    done, _ = await asyncio.wait({hangup}, timeout=wait)
                    if done:
                        raise ConnectionResetError("client went away")
                if index == self.pace.tokens:
                    line = chat_line(model, "", done=True, eval_count=self.pace.tokens)
                elif index % PARAGRAPH_TOKENS == PARAGRAPH_TOKENS - 1:
                    line = chat_line(model, "\n\n", done=False)
                else:
                    line = chat_line(model, TOKENS[index % len(TOKENS)], done=False)
                writer.write(_chunk(line))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            self.stats.finished += 1
        except ConnectionError:
            self.stats.cancelled += 1
            raise
        finally:
            hangup.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await hangup

    async def _json(self, writer: asyncio.StreamWriter, payload: object, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        reason = b"OK" if status == 200 else b"Not Found"
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason, len(data), data)
        )
        await writer.drain()


async def serve(port: int, pace: Pace) -> None:
    server = await asyncio.start_server(
        PacedOllama(pace).handle, "127.0.0.1", port, backlog=4096, limit=1 << 20
    )
    print(f"paced ollama on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="tokens per second per answer")
    parser.add_argument("--first", type=float, default=0.2, help="seconds to the first token")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, Pace(args.tokens, args.rate, args.first)))


if __name__ == "__main__":
    main()
