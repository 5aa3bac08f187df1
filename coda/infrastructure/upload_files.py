"""Every file the form parser opens for an upload is closed when the request ends, parsed or not.

Werkzeug streams each file part of a multipart body into a temporary file of its own and closes
the ones it hands over in `request.files` when the request closes. A body cut off or malformed
after a file part began (the fuzz suite sends such bodies; so can anyone) makes the parser give
up with that file already open and known to nobody: it was closed only when garbage collection
found it, with a ResourceWarning. The request now keeps every file it was given and closes them
all itself.
"""

from __future__ import annotations

from typing import IO, Any

from flask import Flask, Request


class UploadClosingRequest(Request):
    """Flask's request, remembering the files its form parser opened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._upload_files: list[IO[bytes]] = []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )
        self._upload_files.append(stream)
        return stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            for stream in self._upload_files:
                stream.close()
            self._upload_files.clear()


def install(app: Flask) -> None:
    app.request_class = UploadClosingRequest
