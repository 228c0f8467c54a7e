"""The machine's PostgreSQL and Redis, which the integration tests use over real connections."""

from __future__ import annotations

import os

import pytest
import redis

# The server CI and developers have on 127.0.0.1; tests/conftest.py makes a throw-away database in it.
POSTGRES_ADMIN_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/0"


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (psycopg.connect) takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


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
