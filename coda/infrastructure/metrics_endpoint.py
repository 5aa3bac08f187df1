"""The metrics port: the gunicorn master adds up what every worker recorded and serves it.

Called from gunicorn.conf.py's hooks, in the master only. Workers write their values to files in
a directory made fresh for each run (`prometheus_client`'s multiprocess mode), so counters from
every worker add up, a worker's live gauge goes when the worker dies, and a restart starts from
zero instead of from an earlier run's files. The master serves them on a port of its own, which
the public ingress never reaches (on Cloud Run only the container port is exposed).

Nothing here is imported, and no directory made, when metrics are off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass
class MetricsEndpoint:
    """The run's value files, and the server that serves their sum once the master is ready."""

    directory: Path
    server: WSGIServer | None = None

    def serve(self, port: int) -> None:
        """Listen on every address: the scraper is a sidecar (Cloud Run) or another container."""
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        self.server, _thread = start_http_server(port, registry=registry)

    def forget_listener(self) -> None:
        """In a freshly forked worker: close the master's listening socket it inherited."""
        if self.server is not None:
            self.server.socket.close()

    def worker_exited(self, pid: int) -> None:
        """A dead worker's live gauges must not count any more; its counters still do."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """At the master's exit: stop serving and remove the run's files."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        shutil.rmtree(self.directory, ignore_errors=True)


def prepare() -> MetricsEndpoint:
    """A fresh directory for this run, named in the environment before any worker starts:
    `prometheus_client` chooses file-backed values when it is first imported."""
    directory = Path(tempfile.mkdtemp(prefix="coda-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return MetricsEndpoint(directory)
