"""gunicorn settings for coda: `gunicorn --config gunicorn.conf.py 'coda:create_app()'`.

Each streamed answer is a long wait on the model server with a few bytes now and then, so the
worker is gevent: one greenlet per request, and hundreds of answers stream from one process while
probes, pages and static files are served between their tokens. Measured figures and the
reasoning are in docs/frontend.md ("Serving"); `make bench` reproduces them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from coda.config import Settings

if TYPE_CHECKING:
    from coda.infrastructure.metrics_endpoint import MetricsEndpoint

settings = Settings.from_env()  # a bad variable stops gunicorn here, naming it

# c-ares resolves names inside the event loop; gevent's default hands every lookup to a thread
# pool, which cost a third of the worker's CPU when hundreds of answers opened at once.
os.environ.setdefault("GEVENT_RESOLVER", "ares")
# numpy's BLAS on one thread, set before a worker imports numpy: a knowledge search is one small
# matrix product, and OpenBLAS's threads waiting for each other on shared cores made it 16 ms
# instead of 0.9 ms at 10,000 passages (p99 167 ms against 48 at 100,000; docs/knowledge.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

bind = [f"0.0.0.0:{settings.port}"]
# Probes from inside the container (compose's health check) on a listener of their own: gevent's
# worker gives each listener its own pool of `worker_connections`, so they are answered even when
# slow clients hold every public slot. Cloud Run's probes use the public port: its front end sends
# at most containerConcurrency (CODA_CONCURRENCY) requests, so the 64 slots beyond stay free.
if settings.probe_port:
    bind.append(f"127.0.0.1:{settings.probe_port}")
worker_class = "gevent"
# One process per CPU at most; one is enough for 1 vCPU. Cloud Run scales instances.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Connections one worker holds at once: CODA_CONCURRENCY answers (Cloud Run's
# containerConcurrency), plus room for health probes and page loads, so a full instance still
# answers its probes.
worker_connections = settings.concurrency + 64
# The worker's own heartbeat to the master, not a request limit: a long answer is bounded by
# CODA_TOTAL_TIMEOUT.
timeout = 60
# A connection must send its request headers within this long, and an idle keep-alive connection
# is closed after it: half-sent requests (slowloris) hold a greenlet for seconds, never a worker.
# The body has CODA_BODY_TIMEOUT_SECONDS (coda/infrastructure/request_body.py): together they
# bound how long any client can hold a slot without sending.
keepalive = 2
# Cloud Run kills 10 s after SIGTERM. Answers get CODA_SHUTDOWN_GRACE_SECONDS (3 s) to finish,
# then end with "the server is restarting, send again"; idle connections close after `keepalive`.
# The worker is gone well before this bound, which only catches a stuck one.
graceful_timeout = 7
# gunicorn's control socket (a path in the home directory by default) is not used by coda, and two
# instances on one machine (a second `make run`, the benchmark beside a dev server) would share it.
control_socket_disable = True
# The logs are ours: one JSON line per request from the app; gunicorn's own go to stderr.
accesslog = None
errorlog = "-"
# Behind Cloud Run's or compose's proxy: the app's ProxyFix reads X-Forwarded-Proto/-For.
forwarded_allow_ips = "*"


# Prometheus metrics (CODA_METRICS): workers write to this run's directory, the master serves the
# sum on CODA_METRICS_PORT (coda/infrastructure/metrics_endpoint.py). Off: none of this happens.
metrics: MetricsEndpoint | None = None


def on_starting(server: Any) -> None:
    """Before any worker exists: the directory every worker's metrics go to, and the code
    highlighters compiled once, for every worker to inherit."""
    global metrics
    from coda.frontend.rendering.markdown import prepare_highlighting

    prepare_highlighting()
    if settings.metrics:
        from coda.infrastructure.metrics_endpoint import prepare

        metrics = prepare()


def when_ready(server: Any) -> None:
    """The master serves the workers' metrics on their own port."""
    if metrics is not None:
        metrics.serve(settings.metrics_port)
        server.log.info("metrics on port %d", settings.metrics_port)


def post_fork(server: Any, worker: Any) -> None:
    if metrics is not None:
        metrics.forget_listener()


def child_exit(server: Any, worker: Any) -> None:
    if metrics is not None:
        metrics.worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    if metrics is not None:
        metrics.close()


def post_worker_init(worker: Any) -> None:
    """On SIGTERM, open answers start their grace period before gunicorn stops the worker; with
    CODA_BLOCKING_REPORT_MS, a greenlet holding the event loop longer is reported.

    Everything loaded so far (the app, its libraries, the compiled lexers: about 90,000 objects)
    lives as long as the worker, so it is moved out of the garbage collector's sight
    (`gc.freeze`): otherwise each full collection walks all of it while every answer on the
    worker waits (measured: `/healthz` at 130 ms instead of under 100 during hostile requests,
    tests/integration/test_no_stall.py, once numpy came in with the knowledge base).
    """
    import gc

    from coda.infrastructure.lifecycle import drain_on_sigterm

    drain_on_sigterm(worker)
    gc.freeze()
    if settings.blocking_report_ms:
        from coda.infrastructure import blocking_monitor
        from coda.infrastructure.metrics import METRICS_KEY

        app_metrics = worker.wsgi.extensions.get(METRICS_KEY)
        blocking_monitor.start(
            settings.blocking_report_ms,
            None if app_metrics is None else app_metrics.loop_blocked.inc,
        )
