"""Request bodies as gunicorn hands them over: a chunked body (no Content-Length) is held to the
same limit as any other, refused with 413 and a message, and nothing of it is sent back."""

from __future__ import annotations

import socket
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support.html import bubbles, one
from tests.support.live_app import LiveApp
from tests.support.sse import events

pytestmark = pytest.mark.integration

LIMIT = 1_048_576  # CODA_MAX_BODY_BYTES's default, which the live app runs with


def post_chunked(app: LiveApp, path: str, body: bytes) -> tuple[int, str]:
    """POST `body` in 64 KiB chunks, as a browser streaming an upload would; (status, body)."""
    with app.browser() as browser:
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        token = browser.headers["X-CSRFToken"]
    address = urlsplit(app.url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: coda\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
            f"Cookie: {cookie}\r\nX-CSRFToken: {token}\r\nHX-Request: true\r\n\r\n".encode()
        )
        try:
            for start in range(0, len(body), 65536):
                part = body[start : start + 65536]
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before the whole body is sent
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
    head, _, payload = received.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        payload = dechunk(payload)
    return int(head.split(b" ", 2)[1]), payload.decode(errors="replace")


def dechunk(payload: bytes) -> bytes:
    out = b""
    while payload:
        size_line, _, payload = payload.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, payload = out + payload[:size], payload[size + 2 :]
    return out


@pytest.mark.parametrize("path", ["/chat", "/conversation"])
def test_a_chunked_body_over_the_limit_is_refused_with_413_and_nothing_echoed(
    live_app: LiveApp, path: str
) -> None:
    body = urlencode({"message": "x" * (LIMIT + 10_000), "history": "[]"}).encode()

    status, html = post_chunked(live_app, path, body)

    assert status == 413
    assert "x" * 1000 not in html
    (answer,) = bubbles(html, "assistant")
    assert "大きすぎます" in one(answer, ".message-error").get_text()


def test_a_chunked_body_within_the_limit_is_served_as_usual(live_app: LiveApp) -> None:
    body = urlencode({"message": "こんにちは", "history": "[]"}).encode()

    status, stream = post_chunked(live_app, "/chat", body)

    assert status == 200
    assert list(events([stream]))[-1].name == "done"
