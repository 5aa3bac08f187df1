"""A real PostgreSQL with pgvector for tests: Debian's server and pgvector built from source
(scripts/install-postgres.sh), a throwaway cluster in a temporary folder on a free loopback port,
started and stopped by the test fixtures as `redis-server` and `ollama serve` are.

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user the
package creates; its folder is made under /tmp directly (pytest's own tmp folders are root's
alone, mode 0700). The cluster's superuser `coda` needs its password over TCP (SCRAM), as a
managed server does, so tests can see what a wrong one does; the Unix socket in the folder trusts.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.support.ollama_server import free_port

BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "coda"
PASSWORD = "pg-test-secret-7d1f"  # a throwaway cluster's
INSTALLER = "scripts/install-postgres.sh (make postgres)"


def postgres_bindir() -> Path:
    """$CODA_POSTGRES_BINDIR, else Debian's; a server without pgvector fails the test, naming the
    installer."""
    bindir = Path(os.environ.get("CODA_POSTGRES_BINDIR") or BINDIR)
    if not (bindir / "postgres").exists() or not (bindir / "initdb").exists():
        raise RuntimeError(f"PostgreSQL is missing in {bindir}: run {INSTALLER}")
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not (Path(sharedir) / "extension" / "vector.control").exists():
        raise RuntimeError(f"pgvector is missing from {sharedir}: run {INSTALLER}")
    return bindir


def _owner() -> dict[str, Any]:
    """Popen's arguments to run as `postgres` when the tests run as root."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(f"no `postgres` user to run the server as: run {INSTALLER}") from exc
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


@dataclass
class PostgresServer:
    bindir: Path
    port: int = field(default_factory=free_port)
    folder: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    databases: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "server.log"

    def start(self, timeout: float = 30) -> None:
        """initdb, then `postgres` in the foreground of this process's child; every database
        made afterwards has `vector` (it is created in template1)."""
        owner = _owner()
        self.folder = Path(tempfile.mkdtemp(prefix="coda-postgres-"))
        if owner:
            shutil.chown(self.folder, "postgres", "postgres")
        (self.folder / "pw").write_text(PASSWORD)
        data = self.folder / "data"
        subprocess.run(
            [
                str(self.bindir / "initdb"), "-D", str(data), "-U", SUPERUSER,
                f"--pwfile={self.folder / 'pw'}", "--auth-host=scram-sha-256",
                "--auth-local=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
            ],
            capture_output=True,
            check=True,
            **owner,
        )  # fmt: skip
        command = [
            str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
            "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1",
            # A throwaway cluster: nothing needs to survive a crash.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, **owner)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: see {self.log_path}")
            try:
                url = self.url("template1")
                with psycopg.connect(url, autocommit=True, connect_timeout=2) as template:
                    template.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"postgres did not answer within {timeout}s: see {self.log_path}")

    def create_database(self, name: str) -> str:
        """A new, empty database (with `vector`); its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown (SIGINT: open sessions are ended), then the folder removed."""
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
