"""gunicorn settings for coda: `gunicorn --config gunicorn.conf.py 'coda:create_app()'`.

Each streamed answer holds one thread for its whole length (often a minute on CPU), plus a reader
thread of its own that waits on Ollama. So the worker class is `gthread`: threads are cheap while
they wait, and one worker with many threads serves many long streams. Measured figures and the
reasoning are in docs/frontend.md ("Serving").
"""

from __future__ import annotations

import os


def _whole(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name}: expected a whole number from {low} to {high} (got {raw!r})")
    return value


bind = f"0.0.0.0:{_whole('PORT', 8080, 1, 65535)}"
worker_class = "gthread"
# One process is enough for I/O-bound streaming; more only add memory. Cloud Run scales instances.
workers = _whole("WEB_CONCURRENCY", 1, 1, 16)
# The number of requests one worker serves at once, streams included: match Cloud Run's
# `containerConcurrency` (16 in cloudrun/web.yaml) so no request waits in the accept queue.
threads = _whole("CODA_THREADS", 16, 1, 256)
# gthread's `timeout` is the worker's own heartbeat, not a request limit: a long answer is bounded
# by CODA_TOTAL_TIMEOUT, never killed by gunicorn.
timeout = 60
# Cloud Run sends SIGTERM and kills 10 s later: finish or drop streams within 8 s. A cut stream
# ends in the browser as "connection dropped, send again", with the partial answer kept.
graceful_timeout = 8
keepalive = 5
# The logs are ours: one JSON line per request from the app; gunicorn's own go to stderr.
accesslog = None
errorlog = "-"
# Behind Cloud Run's or compose's proxy: the app's ProxyFix reads X-Forwarded-Proto/-For.
forwarded_allow_ips = "*"
