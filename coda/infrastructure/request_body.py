"""A request body arrives whole within a time limit and a size limit, or is refused.

Time: gunicorn drops a client that is slow to send its headers (`keepalive`, 2 s) but has no
limit for the body; a client that declares 100 kB and sends ten bytes held its connection, and
its slot in the worker, forever (330 of them made every health probe time out). Each read of the
body now happens before a deadline, `CODA_BODY_TIMEOUT_SECONDS` after the request arrived: under
gevent a read that waits past it is interrupted, and the request is answered 408 with a message
(`BodyTimeout`). Elsewhere (Flask's development server) the deadline is checked between reads.

Size: Flask refuses a body over `MAX_CONTENT_LENGTH` by its `Content-Length`. A chunked body has
none: under gunicorn, Werkzeug then read the form from a stream cut at the limit, so `/chat`
answered 422 (and echoed a megabyte of text back) and `/conversation` 200 with nothing, instead
of 413. Such a body is read first, at most one byte past the limit, and given its length, so both
kinds take the same path: within the limit it is parsed as usual, over it Flask answers 413.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar

from flask import Flask, request
from werkzeug.exceptions import RequestTimeout

from coda.frontend.streaming.tasks import cooperative

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

T = TypeVar("T")
TIMED_OUT_KEY = "coda.body_timed_out"  # in the environ: a chunked body that did not arrive in time


class BodyTimeout(RequestTimeout):
    """The body did not arrive before its deadline (408, answered with a message)."""


class DeadlineInput:
    """`wsgi.input`, each read of which must end before `deadline` (`time.monotonic()`)."""

    def __init__(self, stream: IO[bytes], deadline: float, connection: Any = None) -> None:
        self.stream = stream
        self.deadline = deadline
        self.connection = connection  # the client's socket, where the server hands it over

    def read(self, size: int = -1) -> bytes:
        return self._before_deadline(lambda: self.stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._before_deadline(lambda: self.stream.readline(size))

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _before_deadline(self, read: Callable[[], T]) -> T:
        try:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise BodyTimeout()
            if not cooperative():
                return read()
            import gevent

            # A greenlet waiting on its socket is woken by the timeout, which raises in it.
            with gevent.Timeout(remaining, BodyTimeout()):
                return read()
        except BodyTimeout:
            self._stop_reading()
            raise

    def _stop_reading(self) -> None:
        """Nothing more is read from this client: after the 408, gunicorn finds the end of the
        stream at once and closes the connection, instead of waiting for the rest of the body."""
        if isinstance(self.connection, socket.socket):
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RD)


@dataclass(frozen=True)
class BodyRule:
    """How large a body may be, in bytes, and how long it may take to arrive, in seconds."""

    limit: int
    timeout: float


class RequestBody:
    """WSGI middleware: every body read before its deadline; a chunked one up to its limit+1.
    `larger` names the paths whose bodies are files (an attachment), with their own rule."""

    def __init__(
        self,
        app: WSGIApplication,
        limit: int,
        timeout: float,
        larger: Mapping[str, BodyRule] | None = None,
    ) -> None:
        self.app = app
        self.default = BodyRule(limit, timeout)
        self.larger = dict(larger or {})

    def rule(self, path: str) -> BodyRule:
        return self.larger.get(path, self.default)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rule = self.rule(environ.get("PATH_INFO", ""))
        deadline = time.monotonic() + rule.timeout
        body = DeadlineInput(environ["wsgi.input"], deadline, environ.get("gunicorn.socket"))
        environ["wsgi.input"] = body
        if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            try:
                data = body.read(rule.limit + 1)
            except BodyTimeout:
                data = b""
                environ[TIMED_OUT_KEY] = True  # answered by `refuse_timed_out`, with a message
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            # No longer chunked, nor a stream the server ends for us: Werkzeug reads the length
            # only when neither is said.
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            del environ["wsgi.input_terminated"]
        return self.app(environ, start_response)


def refuse_timed_out() -> None:
    """A chunked body that ran out of time is refused before anything reads the empty one."""
    if request.environ.get(TIMED_OUT_KEY):
        raise BodyTimeout()


def install(
    app: Flask, limit: int, timeout: float, larger: Mapping[str, BodyRule] | None = None
) -> None:
    """Hold `app`'s request bodies to `limit` bytes arriving within `timeout` seconds, and those
    posted to a path of `larger` to its rule (Flask's own size check included, so it must run
    before anything reads the form: CSRF's check does)."""
    middleware = RequestBody(app.wsgi_app, limit, timeout, larger)
    app.wsgi_app = middleware  # type: ignore[method-assign]

    def own_limit() -> None:
        rule = middleware.larger.get(request.path)
        if rule is not None:
            request.max_content_length = rule.limit

    app.before_request(own_limit)
    app.before_request(refuse_timed_out)
