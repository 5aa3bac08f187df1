"""Liveness and readiness: `/healthz` never calls out; `/readyz` asks the model server, cached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, jsonify

from coda.llm import ChatModel, Health

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


@dataclass(frozen=True)
class Readiness:
    """What `/readyz` reports on: the model, and its health cached for a few seconds."""

    model: ChatModel
    health: CachedHealth


def install(app: Flask, chat_model: ChatModel) -> None:
    """Register `/healthz` and `/readyz` on `app`, readiness asking `chat_model`."""
    cached = CachedHealth(chat_model.health, READY_CACHE_SECONDS)
    app.extensions[READINESS_KEY] = Readiness(chat_model, cached)
    app.register_blueprint(blueprint)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process serves requests; says nothing about Ollama, so a slow model never restarts us."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ollama answers and has the model; 503 with what failed otherwise."""
    readiness: Readiness = current_app.extensions[READINESS_KEY]
    health = readiness.health.get()
    body = {
        "ready": health.ready,
        "model": readiness.model.model,
        "ollama_reachable": health.reachable,
        "model_present": health.model_present,
    }
    if health.detail:
        body["detail"] = health.detail
    return jsonify(body), 200 if health.ready else 503
