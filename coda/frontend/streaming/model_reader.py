"""Reads the model's answer beside the request, so the request never blocks on the model.

While the model is silent (loading, or reading a long prompt), the request keeps writing heartbeats
and the loading notice, and notices a client that hung up. The reader is the only one that touches
the model's generator. Cancelling it closes the upstream HTTP request, which makes the server stop
generating: at once under gevent, where the reader is a greenlet killed where it waits; at its next
chunk under threads, which check a flag (`coda.frontend.streaming.tasks`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coda.frontend.streaming.tasks import spawn
from coda.llm import ChatModel, Chunk, GenerationOptions, Message


@dataclass(frozen=True)
class Wake:
    """Something other than the model has news for the turn: `hangup` or `draining`."""

    reason: str


Item = Chunk | Exception | Wake


class AnswerReader:
    """One answer, read beside the request into a queue that the request takes from."""

    def __init__(
        self, model: ChatModel, prompt: Sequence[Message], options: GenerationOptions
    ) -> None:
        self._model = model
        self._prompt = list(prompt)
        self._options = options
        # Chunks in order, ending with the one that carries usage, or with the exception that ended
        # the answer (an `LLMError`, or a bug, which the turn reports as one); `Wake`s in between.
        self._items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._interrupt: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._interrupt = spawn(self._run, "coda-answer")

    def take(self, timeout: float) -> list[Item]:
        """Everything that has arrived, waiting up to `timeout` seconds for the first of it.

        Chunks that queued up while the request was writing come out together, so a busy server
        sends them as one event rather than one each; the first one is never held back.
        """
        try:
            items = [self._items.get(timeout=max(timeout, 0.0))]
        except queue.Empty:
            return []
        while True:
            try:
                items.append(self._items.get_nowait())
            except queue.Empty:
                return items

    def wake(self, reason: str) -> None:
        """Hand the turn a `Wake`, from any thread or greenlet."""
        self._items.put(Wake(reason))

    def cancel(self) -> None:
        """Stop reading and close the upstream request: at once, or at the next chunk."""
        self._cancelled.set()
        self._interrupt()

    def _run(self) -> None:
        try:
            if self._cancelled.is_set():
                return
            answer = self._model.stream(self._prompt, self._options)
            try:
                for chunk in answer:
                    if self._cancelled.is_set():
                        return
                    self._items.put(chunk)
                    if chunk.usage is not None:
                        return
            finally:
                answer.close()
            raise RuntimeError("the model's stream ended without usage, against the port's promise")
        except Exception as exc:  # handed over whole: the turn decides what the user reads
            self._items.put(exc)
