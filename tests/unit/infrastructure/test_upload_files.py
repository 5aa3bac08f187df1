"""Uploads the form parser gave up on are closed with the request, not by the garbage collector."""

from __future__ import annotations

import gc
import warnings
from dataclasses import replace

import pytest

from coda.infrastructure.app import create_app
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel

FILE_PART = (
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="c.json"\r\n'
    b"Content-Type: application/json\r\n\r\n{}"
)


@pytest.mark.parametrize(
    "body",
    [FILE_PART, FILE_PART + b"\r\n--xyz\r\nnot a part", FILE_PART + b"\r\n--xyz--\r\n"],
    ids=["cut off", "malformed after it", "whole"],
)
@pytest.mark.parametrize("path", ["/import", "/chat", "/conversation"])
def test_no_upload_is_left_open(path: str, body: bytes) -> None:
    app = create_app(replace(WEB_SETTINGS, log_level="CRITICAL"), chat_model=StubModel())
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        response = client.post(
            path, data=body, headers={"Content-Type": "multipart/form-data; boundary=xyz"}
        )
        response.close()
        gc.collect()

    assert response.status_code < 500
    assert [str(w.message) for w in seen if w.category is ResourceWarning] == []
