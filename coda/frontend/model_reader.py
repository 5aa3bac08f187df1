"""Reads the model's answer on a thread of its own, so the request thread never blocks on the model.

While the model is silent (loading, or reading a long prompt), the request thread keeps writing
heartbeats and the loading notice. The reader thread is the only one that touches the model's
generator: a generator cannot be closed from another thread while it runs, so cancelling sets a
flag that the reader checks after every chunk, and then it calls `close()` itself, which closes the
upstream HTTP request and makes the server stop generating.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from coda.llm import ChatModel, Chunk, GenerationOptions, Message


class AnswerReader:
    """One answer, read on a daemon thread into a queue that the request thread polls."""

    def __init__(
        self, model: ChatModel, prompt: Sequence[Message], options: GenerationOptions
    ) -> None:
        self._model = model
        self._prompt = list(prompt)
        self._options = options
        # Chunks in order, then nothing more after the one with usage; or the exception that
        # ended the answer (an `LLMError`, or a bug, which the turn reports as one).
        self._items: queue.SimpleQueue[Chunk | Exception] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coda-answer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def next(self, timeout: float) -> Chunk | Exception | None:
        """The next chunk or the error that ended the answer; None when `timeout` passed first."""
        try:
            return self._items.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def cancel(self) -> None:
        """Ask the reader to stop; it closes the upstream at its next chunk at the latest."""
        self._cancelled.set()

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
