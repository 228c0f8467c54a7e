"""A PostgreSQL server of the test's own, on a free port, to freeze (SIGSTOP) and thaw (SIGCONT).

Only the processes of this server are ever signalled: the machine's PostgreSQL on 5432 is never
touched. As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

from ivr.simulator.server import free_port


def _bindir() -> Path:
    """Where initdb and pg_ctl are: on PATH, else Debian's /usr/lib/postgresql/N/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not versions:
        pytest.fail("initdb is not installed: the frozen-database tests start a PostgreSQL of their own")
    return Path(versions[-1]).parent


class PrivatePostgres:
    """initdb in a temporary directory, pg_ctl start on a free port; freeze() stops every process.

    The directory is made with tempfile (not pytest's tmp_path, which the `postgres` user cannot
    enter) and removed by stop().
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="ivr-private-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.frozen: list[int] = []
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """A SQLAlchemy/libpq URL of its `postgres` database (trust auth, loopback only)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}{self.log()}")

    def start(self) -> PrivatePostgres:
        """initdb and start it; wait until it answers (pg_ctl -w), or fail the test with its log."""
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def pids(self) -> list[int]:
        """The postmaster (from its pid file) and its children: every process of this server."""
        try:
            postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return []
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children")
        try:
            return [postmaster, *(int(pid) for pid in children.read_text().split())]
        except OSError:
            return [postmaster]

    def freeze(self) -> None:
        """SIGSTOP every process: sockets stay open and connections are accepted by the kernel, but
        nothing answers (a hung server, not a refused one). The postmaster first, so that it starts
        no new child meanwhile."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)
            self.frozen.append(pid)

    def thaw(self) -> None:
        """SIGCONT every process freeze() stopped."""
        for pid in self.frozen:
            with suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    @contextmanager
    def frozen_while(self) -> Iterator[None]:
        """Frozen inside the block; thawed after it, whatever happens."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def answers(self) -> bool:
        """Whether it answers a query now (a 2 s connect timeout)."""
        try:
            with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Rows of one query, on a connection of the test's own."""
        with psycopg.connect(self.url, connect_timeout=5, autocommit=True) as conn:
            return list(conn.execute(sql.encode()).fetchall())

    def log(self) -> str:
        """The server's log so far."""
        try:
            return "\n" + self.logfile.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Thaw, stop at once (pg_ctl -m immediate) and remove its directory."""
        self.thaw()
        if (self.datadir / "postmaster.pid").exists():
            command = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]
            if self._as_postgres:
                command = ["runuser", "-u", "postgres", "--", *command]
            subprocess.run(command, capture_output=True, timeout=60, check=False)
            deadline = time.monotonic() + 10
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
