"""Optional warm-up: load the model in the background at start, so no user pays the cold start."""

from __future__ import annotations

import logging
import threading
import time

from coda.llm import ChatModel, GenerationOptions, LLMError

logger = logging.getLogger(__name__)


def start_warmup(model: ChatModel, options: GenerationOptions) -> threading.Thread:
    """Preload on a daemon thread; a failure is logged, never fatal: the app serves regardless."""

    def run() -> None:
        started = time.monotonic()
        try:
            model.preload(options)
        except LLMError as exc:
            logger.warning("model warm-up failed", extra=exc.log_fields())
            return
        seconds = round(time.monotonic() - started, 3)
        logger.info("model warmed up", extra={"model": model.model, "warmup_seconds": seconds})

    thread = threading.Thread(target=run, name="coda-warmup", daemon=True)
    thread.start()
    return thread
