"""Database URLs and engines: SQLite (WAL, busy timeout) or PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from ivr.store.deadline import watch

# A call must not wait on the database for long: Twilio gives a webhook 15 s in all. Each call has
# DEADLINE_S in all (ivr/store/deadline.py); connecting (psycopg's minimum, 2 s) fits inside it, and
# the server cancels a slow statement itself before that deadline would cut the connection.
CONNECT_TIMEOUT_S = 2
BUSY_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 1500
# Execution option read by the SQLite "begin" hook: "IMMEDIATE" takes the write lock up front,
# "NONE" sends no BEGIN (one statement, which SQLite runs as a transaction of its own).
BEGIN_OPTION = "ivr_sqlite_begin"


class DatabaseUrlError(ValueError):
    """DATABASE_URL names a database this line cannot use."""


def default_url(instance_path: str | Path) -> str:
    """The default database: an SQLite file in the Flask instance folder."""
    return f"sqlite:///{Path(instance_path).resolve() / 'ivr.sqlite3'}"


def normalise_url(raw: str) -> URL:
    """Parse DATABASE_URL; postgres:// and postgresql:// mean psycopg 3, sqlite stays sqlite."""
    raw = raw.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    try:
        url = make_url(raw)
    except Exception as exc:
        raise DatabaseUrlError(f"DATABASE_URL is not a database URL: {exc}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgresql":
        if driver not in ("", "psycopg"):
            raise DatabaseUrlError(f"DATABASE_URL: use postgresql:// (psycopg 3), not {url.drivername}://")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise DatabaseUrlError(f"DATABASE_URL: use sqlite:///path, not {url.drivername}://")
        return url.set(drivername="sqlite")
    raise DatabaseUrlError(f"DATABASE_URL must be sqlite:///… or postgresql://…, not {url.drivername}://")


def safe_url(url: URL) -> str:
    """The URL for logs and messages, password hidden."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL | str) -> Engine:
    """An engine that gives up quickly when the database is away (PostgreSQL: calls made
    `deadline.within` it are cut at their deadline, however the server fails)."""
    url = normalise_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # connect_args replace the URL's own "options" (e.g. a search_path), so keep those too.
    given = url.query.get("options", ())
    options = [given] if isinstance(given, str) else list(given)
    options.append(f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "options": " ".join(options)}
    # No pool_pre_ping: watch() pings each checkout itself, once the connection is under a deadline.
    return watch(create_engine(url, connect_args=connect_args, pool_timeout=CONNECT_TIMEOUT_S))


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S}, "pool_timeout": CONNECT_TIMEOUT_S}
    if memory:
        # One connection shared by every thread (StaticPool has no checkout to time out).
        kwargs = {"connect_args": {"check_same_thread": False}, "poolclass": StaticPool}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # sqlite3 would otherwise skip BEGIN before DDL and SELECT; the "begin" hook below emits it.
        dbapi_connection.isolation_level = None
        if not memory:
            # WAL lets readers work beside one writer; with the busy timeout (connect_args), writers
            # from several gunicorn workers queue for the lock instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction that starts as a reader cannot wait for the lock (SQLITE_BUSY at once).
        mode = conn.get_execution_options().get(BEGIN_OPTION, "")
        if mode != "NONE":
            conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def is_sqlite(engine: Engine | Connection) -> bool:
    """Whether this engine or connection talks to SQLite."""
    return engine.dialect.name == "sqlite"
