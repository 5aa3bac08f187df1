"""A request body without a declared length (chunked) is held to the same limit as one with it.

Flask refuses a body over `MAX_CONTENT_LENGTH` by its `Content-Length`. A chunked body has none:
under gunicorn, Werkzeug then read the form from a stream cut at the limit, so `/chat` answered 422
(and echoed a megabyte of text back) and `/conversation` 200 with nothing, instead of 413. This
middleware reads such a body first, at most one byte past the limit, and declares its length, so
both kinds of body take the same path: within the limit it is parsed as usual, over it Flask
raises 413 and the page says the message is too large.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class BodyLimit:
    """WSGI middleware: a chunked request body is read up to `limit`+1 and given its length."""

    def __init__(self, app: WSGIApplication, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            # No longer chunked, nor a stream the server ends for us: Werkzeug reads the length
            # only when neither is said.
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            del environ["wsgi.input_terminated"]
        return self.app(environ, start_response)


def install(app: Flask, limit: int) -> None:
    """Hold `app`'s chunked request bodies to `limit` bytes, as Flask holds the others."""
    app.wsgi_app = BodyLimit(app.wsgi_app, limit)  # type: ignore[method-assign]
