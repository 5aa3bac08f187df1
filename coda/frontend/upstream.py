"""Reads the model's stream on a thread of its own, so the request thread never blocks on Ollama.

While Ollama is silent (loading the model, or a long prompt), the request thread keeps writing
heartbeats and the loading notice. The reader thread is the only one that touches the model's
generator: a generator cannot be closed from another thread while it runs, so cancelling sets a
flag that the reader checks after every chunk, and then it calls `close()` itself, which closes the
upstream HTTP request and makes Ollama stop generating.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from coda.llm import ChatModel, Chunk, GenerationOptions, LLMError, Message, UnavailableError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """The model's generator returned (after its final chunk, or without one)."""


Item = Chunk | LLMError | Finished


class UpstreamReader:
    """One answer, read on a daemon thread into a queue the request thread polls with a timeout."""

    def __init__(
        self, model: ChatModel, messages: Sequence[Message], options: GenerationOptions
    ) -> None:
        self._model = model
        self._messages = list(messages)
        self._options = options
        self._items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self.closed = threading.Event()  # set once the upstream generator has been closed
        self._thread = threading.Thread(target=self._run, name="coda-upstream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def get(self, timeout: float) -> Item | None:
        """The next item, or None when nothing came within `timeout` seconds."""
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
            answer = self._model.stream(self._messages, self._options)
            try:
                for chunk in answer:
                    if self._cancelled.is_set():
                        return
                    self._items.put(chunk)
            finally:
                answer.close()
            self._items.put(Finished())
        except LLMError as exc:
            self._items.put(exc)
        except Exception as exc:  # a bug below the port: still an answer for the user, not a hang
            logger.exception("model stream failed outside the LLM error types")
            self._items.put(UnavailableError(f"{type(exc).__name__}: {exc}"))
        finally:
            self.closed.set()
