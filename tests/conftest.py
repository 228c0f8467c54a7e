"""Fixtures, the test tiers and the hypothesis profiles. Shared helpers are in tests/support/.

Tiers: every test has exactly one of the markers `unit`, `integration` or `system` (registered
in pyproject.toml). A module says its tier with `pytestmark`; a test of another tier in it carries
its own marker, which wins (pytest_collection_modifyitems below). `slow` marks any test that takes
more than about 2 s (measured with `pytest --durations=0`). A test with no tier stops the run, so a
new test module has to say where it belongs:

- unit: pure code, no database, network, subprocess, Flask app or test client;
- integration: real SQLite, PostgreSQL or Redis, a Flask app and its test client or CLI runner,
  servers in threads on 127.0.0.1, helper subprocesses (espeak-ng, sox, alembic);
- system: real gunicorn (or nginx) subprocesses, the Chromium browser.

`./bin/test -m "not slow"` is the quick loop; `-m unit` the quickest.

Hypothesis profiles (HYPOTHESIS_PROFILE): `dev` (the default: fewer examples, a new random
sample each run), `ci` (.ci/run: more examples, derandomized so that a run is reproducible),
`bench` (bench/fuzz.py: HYPOTHESIS_MAX_EXAMPLES, default 1,000). None has a deadline: no test
depends on how fast the machine is.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from psycopg import sql
from sqlalchemy.engine import make_url

from ivr import logs, services
from ivr.simulator import FlaskTransport, Phone
from ivr.store import Store
from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, indian_mobile, make_app
from tests.support.content import copy_content
from tests.support.services import PrivateRedis, fresh_postgres_database
from tests.support.web import Seeded, seed

# ---------------------------------------------------------------- hypothesis profiles

_NO_DEADLINE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", _NO_DEADLINE, max_examples=50)
settings.register_profile("ci", _NO_DEADLINE, max_examples=200, derandomize=True)
settings.register_profile(
    "bench", _NO_DEADLINE, max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES") or 1000)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "dev")

# ---------------------------------------------------------------- tiers

TIERS = ("unit", "integration", "system")


@pytest.hookimpl(tryfirst=True)  # before -m selects: the tiers must be settled by then
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test exactly one tier: its own tier marker if it has one, else its module's.

    A module's `pytestmark` tier is taken off the module and put on each of its tests that has no
    tier of its own, so that `-m integration` does not also pick the unit tests of a mostly
    integration module. A test with no tier at all, or two of its own, stops the run.
    """
    defaults: dict[pytest.Module, list[str]] = {}
    wrong: list[str] = []
    for item in items:
        module = item.getparent(pytest.Module)
        if module is not None and module not in defaults:
            defaults[module] = [mark.name for mark in module.own_markers if mark.name in TIERS]
            module.own_markers[:] = [mark for mark in module.own_markers if mark.name not in TIERS]
        own = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        inherited = defaults.get(module, []) if module is not None else []
        if len(own) > 1 or (not own and len(inherited) != 1):
            wrong.append(f"{item.nodeid}: {' and '.join(sorted(own or inherited)) or 'no tier'}")
        elif not own:
            item.add_marker(inherited[0])
    if wrong:
        raise pytest.UsageError(
            "each test needs exactly one of the markers "
            + ", ".join(TIERS)
            + " (see tests/conftest.py):\n  "
            + "\n  ".join(wrong)
        )


# ---------------------------------------------------------------- apps and phones


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def signed(app: Flask) -> SignedClient:
    return SignedClient(app)


@pytest.fixture
def phone(app: Flask) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())


@pytest.fixture
def phone_for() -> Callable[[Flask], Phone]:
    def make(app: Flask) -> Phone:
        return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())

    return make


@pytest.fixture
def content_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the real prompts/ and knowledge/ for breaking on purpose."""
    yield copy_content(tmp_path)


# ---------------------------------------------------------------- databases
# The same tests run on real SQLite and real PostgreSQL.


@pytest.fixture(scope="session", autouse=True)
def _test_database_for_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps made by tests use a throw-away SQLite file, never instance/ nor the shell's DATABASE_URL."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('appdb') / 'ivr.sqlite3'}")
        mp.delenv("IVR_DB_MIGRATE_ON_START", raising=False)
        yield


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database made for this test session and dropped after it.

    An unreachable server fails the PostgreSQL tests; only IVR_SKIP_POSTGRES=1 skips them.
    """
    with fresh_postgres_database("ivr_test") as url:
        yield url


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


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger sends JSON lines to a buffer for the test, as create_app sets it up."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own, for the staff and public pages."""
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'web.sqlite3'}")
    yield app
    services.store(app).dispose()


@pytest.fixture
def seeded(web_app: Flask) -> Seeded:
    """`web_app`'s database with a staff user and a few calls, call-backs and recordings."""
    with web_app.app_context():
        return seed(services.store())
