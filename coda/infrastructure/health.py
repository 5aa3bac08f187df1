"""Liveness and readiness: `/healthz` never calls out; `/readyz` asks the model server, cached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from coda.llm import ChatModel, LLMError

READY_CACHE_SECONDS = 5.0
READINESS_KEY = "coda.readiness"

blueprint = Blueprint("health", __name__)


@dataclass(frozen=True)
class Readiness:
    """Whether the model server answers, and which of the models users may choose it has."""

    reachable: bool
    models: Mapping[str, bool]
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.reachable and all(self.models.values())


def check_readiness(chat_model: ChatModel, allowed: Sequence[str]) -> Readiness:
    """One listing of the server's models answers for all of them."""
    try:
        available = set(chat_model.list_models())
    except LLMError as exc:
        return Readiness(False, dict.fromkeys(allowed, False), exc.detail)
    present = {name: name in available for name in allowed}
    missing = [name for name, found in present.items() if not found]
    detail = f"not on the server: {', '.join(missing)}" if missing else ""
    return Readiness(True, present, detail)


class CachedReadiness:
    """One upstream check per few seconds, however many probes and instances of it ask."""

    def __init__(
        self,
        check: Callable[[], Readiness],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Readiness | None = None
        self._at = 0.0

    def get(self) -> Readiness:
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._at >= self._ttl:
                self._value = self._check()
                self._at = now
            return self._value


@dataclass(frozen=True)
class ReadinessProbe:
    """What `/readyz` reports on: the default model, and the cached check of all allowed ones."""

    default_model: str
    cached: CachedReadiness


def install(app: Flask, chat_model: ChatModel, allowed: Sequence[str], probe_port: int = 0) -> None:
    """Register `/healthz` and `/readyz` on `app`, readiness asking `chat_model`'s server.

    With a `probe_port` (`CODA_PROBE_PORT`, the listener gunicorn.conf.py adds on 127.0.0.1 with
    connection slots of its own), requests that arrive on it reach these two routes only.
    """
    models = tuple(allowed)
    cached = CachedReadiness(lambda: check_readiness(chat_model, models), READY_CACHE_SECONDS)
    app.extensions[READINESS_KEY] = ReadinessProbe(chat_model.model, cached)
    app.register_blueprint(blueprint)
    if probe_port:

        @app.before_request
        def probes_only() -> None:
            if _local_port() == probe_port and request.blueprint != blueprint.name:
                abort(404)


def _local_port() -> int | None:
    """The port the request's connection came in on, as gunicorn's worker accepted it."""
    sock = request.environ.get("gunicorn.socket")
    try:
        return int(sock.getsockname()[1]) if sock is not None else None
    except (OSError, IndexError, TypeError, ValueError):
        return None


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process serves requests; says nothing about the model server, so a slow model never
    restarts us."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The model server answers and has every allowed model; 503 with what failed otherwise."""
    probe: ReadinessProbe = current_app.extensions[READINESS_KEY]
    readiness = probe.cached.get()
    body: dict[str, object] = {
        "ready": readiness.ready,
        "model": probe.default_model,
        "server_reachable": readiness.reachable,
        "model_present": readiness.models.get(probe.default_model, False),
        "models": dict(readiness.models),
    }
    if readiness.detail:
        body["detail"] = readiness.detail
    return jsonify(body), 200 if readiness.ready else 503
