"""Liveness and readiness: `/healthz` never calls out; `/readyz` asks Ollama, cached briefly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify

from coda.frontend.context import services
from coda.llm import Health

READY_CACHE_SECONDS = 5.0
READINESS_KEY = "coda.readiness"

blueprint = Blueprint("health", __name__)


class CachedHealth:
    """One upstream check per few seconds, however many probes and instances of it ask."""

    def __init__(
        self, check: Callable[[], Health], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Health | None = None
        self._at = 0.0

    def get(self) -> Health:
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._at >= self._ttl:
                self._value = self._check()
                self._at = now
            return self._value


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process serves requests; says nothing about Ollama, so a slow model never restarts us."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ollama answers and has the model; 503 with what failed otherwise."""
    found = services()
    readiness: CachedHealth = current_app.extensions[READINESS_KEY]
    health = readiness.get()
    body = {
        "ready": health.ready,
        "model": found.chat_model.model,
        "ollama_reachable": health.reachable,
        "model_present": health.model_present,
    }
    if health.detail:
        body["detail"] = health.detail
    return jsonify(body), 200 if health.ready else 503
