"""Alembic, run from code: upgrade, downgrade and current revision, safe with several workers."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import OperationalError

from ivr.store.db import BEGIN_OPTION, BUSY_TIMEOUT_S, is_sqlite
from ivr.store.deadline import MIGRATION_DEADLINE_S, within

log = logging.getLogger("ivr.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works, as long as nothing else on the server uses it for pg_advisory_xact_lock.
PG_LOCK_KEY = 0x1F0_5709E
SQLITE_MIGRATION_BUSY_MS = 30_000
SQLITE_TRIES = 3


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the migrations in this package (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    # New revisions (flask db revision) come out already passing `ruff check` and `ruff format`.
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        cfg.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
        for name, args in (("ruff_fix", "check --fix --quiet"), ("ruff_format", "format --quiet")):
            cfg.set_section_option("post_write_hooks", f"{name}.type", "exec")
            cfg.set_section_option("post_write_hooks", f"{name}.executable", str(ruff))
            cfg.set_section_option("post_write_hooks", f"{name}.options", f"{args} REVISION_SCRIPT_FILENAME")
    return cfg


def head() -> str:
    """The newest revision in the package."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: empty, never migrated)."""
    with within(engine, MIGRATION_DEADLINE_S), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate up to a revision; several workers may call this at once."""
    _run(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to a revision ("base" empties the database)."""
    _run(engine, lambda cfg: command.downgrade(cfg, revision))


def autogenerate(engine: Engine, message: str) -> None:
    """Write a new revision from the difference between the models and this (migrated) database."""
    _run(engine, lambda cfg: command.revision(cfg, message=message, autogenerate=True))


def _run(engine: Engine, step: Callable[[Config], object]) -> None:
    for attempt in range(1, SQLITE_TRIES + 1):
        try:
            # A frozen PostgreSQL must not hang a starting worker (or `flask db`) for ever.
            with within(engine, MIGRATION_DEADLINE_S), _locked(engine) as conn:
                step(alembic_config(conn))
            return
        except OperationalError as exc:
            # BEGIN IMMEDIATE waits 30 s for another worker's migration; past that, try again.
            if not is_sqlite(engine) or "locked" not in str(exc.orig) or attempt == SQLITE_TRIES:
                raise
            log.warning("database locked while migrating (try %d of %d); retrying", attempt, SQLITE_TRIES)
            time.sleep(0.5 * attempt)


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction around all the migrations, holding a lock that other workers wait on."""
    with engine.connect() as conn:
        if is_sqlite(conn):
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute(f"PRAGMA busy_timeout = {SQLITE_MIGRATION_BUSY_MS}")
            conn = conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            try:
                with conn.begin():
                    yield conn
            finally:
                raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        else:
            with conn.begin():
                # The store's 3 s statement timeout would cut short a wait for the lock or a long DDL.
                conn.execute(text("SET LOCAL statement_timeout = 0"))
                conn.execute(select(func.pg_advisory_xact_lock(PG_LOCK_KEY)))
                yield conn
