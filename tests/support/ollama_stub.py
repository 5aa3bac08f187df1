"""An upstream that answers like Ollama but says exactly what a test needs.

Only for what a real model cannot be made to do on demand (emit a given hostile payload); it speaks
Ollama's wire format: `/api/version`, `/api/show`, and `/api/chat` streaming NDJSON `ChatResponse`
lines ending with a `done` line that carries the counters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import serving


def chat_line(model: str, content: str, *, done: bool, eval_count: int = 0) -> bytes:
    """One NDJSON line of `/api/chat`, as Ollama streams it; the last one carries the counters."""
    part: dict[str, object] = {
        "model": model,
        "created_at": "2026-11-21T00:00:00.000000000Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        part |= {
            "done_reason": "stop",
            "total_duration": 300_000_000,
            "load_duration": 10_000_000,
            "prompt_eval_count": 20,
            "prompt_eval_duration": 50_000_000,
            "eval_count": eval_count,
            "eval_duration": 200_000_000,
        }
    return json.dumps(part).encode() + b"\n"


# What `/api/show` answers for a model created from a GGUF (the fields the client requires).
SHOW_BODY = {
    "modelfile": "",
    "parameters": "",
    "template": "",
    "details": {"format": "gguf"},
    "model_info": {},
    "capabilities": ["completion"],
    "modified_at": "2026-11-21T00:00:00Z",
}


@contextmanager
def scripted_ollama(
    model: str,
    pieces: Sequence[str],
    *,
    delay: float = 0.0,
    by_question: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[str]:
    """Serve an Ollama look-alike whose every answer is `pieces`, streamed; yields its URL.

    `delay` (seconds) is waited before each piece, pacing the tokens like a real model would.
    `by_question` answers a prompt whose last message is one of its keys with that key's pieces.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/api/version":
                self._json({"version": "0.17.4"})
            else:
                self._json({"error": "not found"}, status=404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/api/show":
                self._json(SHOW_BODY)
                return
            if self.path != "/api/chat" or body.get("model") != model:
                self._json({"error": f'model "{body.get("model")}" not found'}, status=404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            question = (body.get("messages") or [{}])[-1].get("content", "")
            answer = (by_question or {}).get(question, pieces)
            for piece in answer:
                if delay:
                    time.sleep(delay)
                self.wfile.write(chat_line(model, piece, done=False))
                self.wfile.flush()
            self.wfile.write(chat_line(model, "", done=True, eval_count=len(answer)))
            self.wfile.flush()

        def _json(self, payload: object, status: int = 200) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test output is for the test."""

    with serving(Handler) as url:
        yield url
