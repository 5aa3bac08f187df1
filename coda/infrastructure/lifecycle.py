"""The worker's end of life: SIGTERM starts the drain of open answers
(coda.frontend.streaming.draining)."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from coda.frontend import EXTENSION_KEY, Services

logger = logging.getLogger(__name__)


def drain_on_sigterm(worker: Any) -> None:
    """Wrap the gunicorn worker's SIGTERM handler: drain first, then let gunicorn stop as usual.

    gunicorn's own handler only stops accepting and waits `graceful_timeout` for open requests;
    streams that outlive it would be cut with no final event and no log line.
    """
    services = worker.wsgi.extensions.get(EXTENSION_KEY)
    if not isinstance(services, Services):
        raise RuntimeError("drain_on_sigterm needs the app built by coda's create_app()")
    previous = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("stopping: open answers have %.1f s to finish", services.draining.grace_seconds)
        services.draining.begin()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handle)
