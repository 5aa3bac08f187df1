"""Noticing at once that the client hung up, not at the next write.

After a request's body is read, an HTTP/1.1 client sends nothing more until the answer ends, so
its socket turning readable means it closed the connection (Stop, Esc, a closed tab, a client
timeout). Without this, a closed tab is noticed at the next write: the next token or heartbeat,
seconds later, while the model server keeps generating for nobody.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

from coda.frontend.streaming.tasks import cooperative, spawn


def watch_for_hangup(
    environ: Mapping[str, Any], on_hangup: Callable[[], None]
) -> Callable[[], None]:
    """Call `on_hangup` once the client's connection closes; returns what stops the watch.

    Only where the worker is cooperative (gevent) and gunicorn hands over the client's socket;
    elsewhere it watches nothing.
    """
    client = environ.get("gunicorn.socket")
    if client is None or not cooperative():
        return lambda: None

    def watch() -> None:
        try:
            gone = client.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            gone = True
        if gone:
            on_hangup()

    return spawn(watch, "coda-hangup")
