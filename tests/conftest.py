"""Shared fixtures: an app with a known auth token, a signed-request client, simulated phones."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import yaml
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from ivr.config import REPO_ROOT
from ivr.factory import create_app
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.simulator.server import free_port
from ivr.store import Store

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BASE_URL = "http://localhost"
OPERATOR = "+441234567890"
# Tests never depend on the wall clock: Wednesday 25 November 2026, 11:00 in India, in hours.
IN_HOURS = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)


def make_app(**overrides: Any) -> Flask:
    """An app on the real content with test secrets; overrides go into its config."""
    config: dict[str, Any] = {
        "TESTING": True,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HASH_SALT": "test-salt",
        "SECRET_KEY": "test-secret-key",
        "OPERATOR_NUMBER": None,
        "DEV_SKIP_SIGNATURE": False,
        "PUBLIC_BASE_URL": None,
        "RATELIMIT_ENABLED": False,  # a test drives calls far faster than callers; see tests/test_ops.py
        "CLOCK": lambda: IN_HOURS,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class SignedClient:
    """Posts to the app with a valid X-Twilio-Signature, as Twilio would."""

    def __init__(self, app: Flask, token: str = AUTH_TOKEN) -> None:
        self.client = app.test_client()
        self.validator = RequestValidator(token)
        self.caller = f"+1555{secrets.randbelow(10**10):010d}"  # a new caller: the line remembers numbers

    def post(
        self, path: str, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, ET.Element | None]:
        """POST signed; return the status and the parsed TwiML (None for a non-XML body)."""
        form = {"CallSid": "CAtest", "From": self.caller, "To": "+15005550001", **(params or {})}
        signature = self.validator.compute_signature(BASE_URL + path, form)
        response = self.client.post(
            path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})}
        )
        body = response.get_data(as_text=True)
        root = ET.fromstring(body) if response.mimetype == "text/xml" else None
        return response.status_code, root


@pytest.fixture
def signed(app: Flask) -> SignedClient:
    return SignedClient(app)


@pytest.fixture
def phone(app: Flask) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)


@pytest.fixture
def phone_for() -> Callable[[Flask], Phone]:
    def make(app: Flask) -> Phone:
        return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)

    return make


def answer(phone: Phone, lang_key: str = "1") -> Turn:
    """Dial as a new caller and pick a language (1 English, 2 Hindi) at the language menu."""
    chooser = phone.dial()
    assert chooser.gather is not None and "n=_language" in chooser.gather.get("action", ""), chooser.says
    return phone.press(lang_key)


def english_only_copy(root: Path) -> Path:
    """Copy the real content to root with English alone: no Hindi prompts, sections or tree texts."""
    for name in ("prompts", "knowledge"):
        shutil.copytree(REPO_ROOT / name, root / name)
    (root / "prompts" / "hi.yaml").unlink()
    shutil.rmtree(root / "knowledge" / "sections" / "hi")

    def drop(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: drop(v) for k, v in node.items() if k != "hi"}
        if isinstance(node, list):
            return [drop(v) for v in node if v != "hi"]
        return node

    for name in ("tree.yaml", "specialists.yaml"):
        path = root / "knowledge" / name
        path.write_text(yaml.safe_dump(drop(yaml.safe_load(path.read_text())), allow_unicode=True))
    return root


@pytest.fixture
def content_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the real prompts/ and knowledge/ for breaking on purpose."""
    for name in ("prompts", "knowledge"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name)
    yield tmp_path


def emergency_in_a_list_item(root: Path) -> None:
    """Edit a content copy so that a list item holds the {emergency} token (the README: anywhere in a
    section's text, it is the number of the line's settings)."""
    path = root / "knowledge" / "sections" / "en" / "symptoms.md"
    raw = path.read_text(encoding="utf-8")
    assert raw.count("\n- Difficulty swallowing.\n") == 1
    path.write_text(
        raw.replace("\n- Difficulty swallowing.\n", "\n- Difficulty swallowing. Call {emergency}.\n")
    )


# Databases: the same tests run on real SQLite and real PostgreSQL.

# The server CI and developers have on 127.0.0.1; a throw-away database is made in it per session.
POSTGRES_ADMIN_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session", autouse=True)
def _test_database_for_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps made by tests use a throw-away SQLite file, never instance/ nor the shell's DATABASE_URL."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('appdb') / 'ivr.sqlite3'}")
        mp.delenv("IVR_DB_MIGRATE_ON_START", raising=False)
        yield


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database made for this test session and dropped after it.

    An unreachable server fails the PostgreSQL tests; only IVR_SKIP_POSTGRES=1 skips them.
    """
    if os.environ.get("IVR_SKIP_POSTGRES") == "1":
        pytest.skip("IVR_SKIP_POSTGRES=1: PostgreSQL tests skipped on purpose")
    admin = _libpq_url(POSTGRES_ADMIN_URL)
    name = f"ivr_test_{secrets.token_hex(6)}"
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


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend: an SQLite file, or a fresh schema of the session's database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
        return
    base: str = request.getfixturevalue("postgres_database")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield str(
            make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
        )
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A Store on a database migrated to head, on each backend."""
    made = Store.from_url(database_url)
    assert made.prepare()
    yield made
    made.dispose()


REDIS_URL = "redis://127.0.0.1:6379/0"


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


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A started PrivateRedis, stopped after the test; IVR_SKIP_REDIS=1 skips on purpose."""
    if os.environ.get("IVR_SKIP_REDIS") == "1":
        pytest.skip("IVR_SKIP_REDIS=1: Redis tests skipped on purpose")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (the Redis tests need it); or set IVR_SKIP_REDIS=1.")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
