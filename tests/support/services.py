"""The machine's PostgreSQL and Redis, which the integration tests use over real connections."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

from ivr.simulator.server import free_port

# The server CI and developers have on 127.0.0.1; tests/conftest.py makes a throw-away database in it.
POSTGRES_ADMIN_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/0"


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (psycopg.connect) takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new database named `prefix`_<random> on the shared PostgreSQL server, dropped after: its URL.

    An unreachable server fails the test; only IVR_SKIP_POSTGRES=1 skips it.
    """
    if os.environ.get("IVR_SKIP_POSTGRES") == "1":
        pytest.skip("IVR_SKIP_POSTGRES=1: PostgreSQL tests skipped on purpose")
    admin = libpq_url(POSTGRES_ADMIN_URL)
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {make_url(admin).render_as_string(hide_password=True)} is not reachable: {exc}\n"
            "Start it, point IVR_TEST_POSTGRES_URL at one, or set IVR_SKIP_POSTGRES=1 to skip on purpose.",
            pytrace=False,
        )
    try:
        yield str(make_url(admin).set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def local_redis() -> redis.Redis:
    """A client of the machine's Redis; fails the test if it is not running (IVR_SKIP_REDIS=1 skips)."""
    if os.environ.get("IVR_SKIP_REDIS") == "1":
        pytest.skip("IVR_SKIP_REDIS=1: Redis tests skipped on purpose")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}. Start it or set IVR_SKIP_REDIS=1.")
    return client


NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start again (outages on purpose).

    Only this process is ever stopped: the machine's Redis on 6379 is never touched.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL, the same after a restart."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (no persistence) and wait until it answers; fails the test after 10 s."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    pytest.fail(f"a private redis-server on port {self.port} did not start")
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Stop it (its data is lost) and wait until it has exited."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
