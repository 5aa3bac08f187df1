"""Shutting down without cutting anyone off: open answers get a grace period, then a message.

gunicorn.conf.py begins the drain when the worker gets SIGTERM (Cloud Run sends it 10 s before
killing the instance). An answer that finishes within `grace_seconds` ends as usual; one that does
not ends with "the server is restarting, send again", its partial text kept and its log line
written, well before the platform's kill.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Draining:
    """Whether the worker is shutting down, and the open answers to tell when it starts."""

    def __init__(self, grace_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._listeners: set[Callable[[], None]] = set()
        self.deadline: float | None = None

    def begin(self) -> None:
        """Start the drain (once): every open answer learns its deadline now."""
        with self._lock:
            if self.deadline is not None:
                return
            self.deadline = self._clock() + self.grace_seconds
            listeners = list(self._listeners)
        for wake in listeners:
            wake()

    @property
    def open_answers(self) -> int:
        """Answers streaming on this worker now: every one listens for the drain."""
        return len(self._listeners)

    @contextmanager
    def listening(self, wake: Callable[[], None]) -> Iterator[None]:
        """Call `wake` if the drain begins while the block runs."""
        with self._lock:
            self._listeners.add(wake)
        try:
            yield
        finally:
            with self._lock:
                self._listeners.discard(wake)
