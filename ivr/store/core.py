"""The store's base: the engine, the schema migrated before first use, and every query guarded.

A guarded query runs in one transaction under the outage policy (ivr.store.outage): if the database
fails, the caller gets the method's default and the line goes on. Also the small SQL helpers the
aggregates share (utc_now, fit, columns, insert_for).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TypedDict, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ivr.store.db import BEGIN_OPTION, is_sqlite, make_engine, normalise_url, safe_url
from ivr.store.deadline import DEADLINE_S, MIGRATION_DEADLINE_S, within
from ivr.store.migrate import upgrade
from ivr.store.models import Base
from ivr.store.outage import RETRY_AFTER_S, Outage, WriteFailure, describe, is_outage

T = TypeVar("T")
log = logging.getLogger("ivr.store")


@dataclass(frozen=True, slots=True)
class Health:
    """What /healthz says of the database: `unreachable` is why it does not answer (None: it does),
    `writes` why this process's writes are failing (None: the last one was stored)."""

    unreachable: str | None
    writes: WriteFailure | None


class StoreOptions(TypedDict, total=False):
    """StoreCore's keyword arguments, for the parts that add their own state and pass these on."""

    migrate: Callable[[Engine], None] | None
    retry_after: float


class StoreCore(Outage):
    """The engine and guarded execution that every part of the Store shares."""

    def __init__(
        self,
        engine: Engine,
        *,
        migrate: Callable[[Engine], None] | None = None,
        retry_after: float = RETRY_AFTER_S,
    ) -> None:
        super().__init__(retry_after)
        self.engine = engine
        self._migrate = migrate
        self._schema_ready = migrate is None
        self._schema_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True, retry_after: float = RETRY_AFTER_S) -> Self:
        """A store on DATABASE_URL; with migrate, the schema is brought to head before first use."""
        return cls(
            make_engine(normalise_url(url)),
            migrate=upgrade if migrate else None,
            retry_after=retry_after,
        )

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return safe_url(self.engine.url)

    def prepare(self, deadline: float = MIGRATION_DEADLINE_S) -> bool:
        """Migrate now (at app start); False, logged, if the database can't be reached or does not
        finish within `deadline` seconds (the line starts anyway; migrations are retried later)."""
        try:
            with within(self.engine, deadline):
                self._ensure_schema()
        except SQLAlchemyError as exc:
            if not is_outage(exc):
                raise
            log.error(
                "database %s unavailable at start (%s): the line works without it, losing writes"
                " (logged) until it is back; migrations will be retried then",
                self.url,
                describe(exc),
            )
            return False
        return True

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def ping(self) -> str | None:
        """Ask the database for SELECT 1 (within DEADLINE_S): None when it answers, else why not."""
        try:
            with within(self.engine, DEADLINE_S), self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            if is_outage(exc):
                self._went_away(exc)
            return describe(exc)
        # It answers: calls need not wait out the rest of a remembered outage.
        self._came_back()
        return None

    def health(self) -> Health:
        """For /healthz: while an outage is remembered, its reason at once (a load balancer's check
        must not wait on a frozen database either); else a ping. And whether writes are failing."""
        wait = self.breaker.remaining()
        if wait > 0:
            unreachable: str | None = f"{self.outage_reason or 'unavailable'} (next try in {wait:.1f} s)"
        else:
            unreachable = self.ping()
        return Health(unreachable, self.writes.failure)

    # The safety net.

    def _write(
        self, what: str, fields: Mapping[str, object], work: Callable[[Connection], T], default: T
    ) -> T:
        return self._guarded(what, fields, work, default, write=True)

    def _read(
        self, what: str, fields: Mapping[str, object], work: Callable[[Connection], T], default: T
    ) -> T:
        return self._guarded(what, fields, work, default, write=False)

    def _added(
        self, what: str, fields: Mapping[str, object], model: type[Base], row: Callable[[], dict[str, Any]]
    ) -> int | None:
        """Insert one row, made at write time (inside the guard); its id, or None if it could not be saved."""
        return self._write(what, fields, lambda conn: _inserted_id(conn, model, row()), None)

    def _added_once(
        self,
        what: str,
        fields: Mapping[str, object],
        model: type[Base],
        row: Callable[[], dict[str, Any]],
        once: str,
    ) -> int | None:
        """Insert one row unless a row with the same value in the unique column `once` is there:
        the id of the new row or of the one already there (a redelivered webhook's), None if the
        database failed. Atomic on both backends (INSERT ... ON CONFLICT DO NOTHING), so that two
        identical requests at once, in two workers, still make one row."""

        def work(conn: Connection) -> int:
            made = row()
            table = Base.metadata.tables[model.__tablename__]
            stmt = insert_for(conn, model).values(made).on_conflict_do_nothing().returning(table.c.id)
            new = conn.execute(stmt).scalar_one_or_none()
            if new is not None:
                return int(new)
            there = conn.execute(select(table.c.id).where(table.c[once] == made[once])).scalar_one()
            log.info("%s: already done for this request (%s); not done again", what, once)
            return int(there)

        return self._write(what, fields, work, None)

    def _guarded(
        self,
        what: str,
        fields: Mapping[str, object],
        work: Callable[[Connection], T],
        default: T,
        *,
        write: bool,
        report: bool = True,
    ) -> T:
        if self._away(what, fields, write=write, report=report):
            return default
        try:
            with within(self.engine, DEADLINE_S):
                self._ensure_schema()
                with self.engine.connect() as conn:
                    if write and is_sqlite(conn):
                        # SQLite's write lock taken at BEGIN: a reader turned writer could not wait for it.
                        conn = conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
                    with conn.begin():
                        result = work(conn)
        except Exception as exc:
            self._failed(what, fields, exc, write=write, report=report)
            return default
        self._came_back()  # nothing to do unless it was down: then "database is back", once
        if write:
            self.writes.stored()
        return result

    def _ensure_schema(self) -> None:
        if self._schema_ready or self._migrate is None:
            return
        with self._schema_lock:
            if not self._schema_ready:
                self._migrate(self.engine)
                self._schema_ready = True


def utc_now() -> datetime:
    """The time now, in UTC (every stored time is)."""
    return datetime.now(UTC)


def fit(column: Any, value: str | None) -> str | None:
    """Cut a string to its column's length: a long value must not lose the whole row."""
    # column.type costs microseconds on a mapped attribute (it goes through the comparator): keep it.
    key = id(column)
    if key not in _LENGTHS:
        _LENGTHS[key] = getattr(column.type, "length", None)
    length = _LENGTHS[key]
    return value[:length] if value is not None and length else value


_LENGTHS: dict[int, int | None] = {}  # id of a mapped attribute (they live as long as the models): length


def columns(model: type[Base]) -> list[Any]:
    """Every column of a model's table, to select whole rows into the row dataclasses."""
    return list(model.__table__.columns)


def insert_for(conn: Connection, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT in this database's dialect (both have ON CONFLICT)."""
    return sqlite.insert(model) if is_sqlite(conn) else postgresql.insert(model)


def _inserted_id(conn: Connection, model: type[Base], row: dict[str, Any]) -> int:
    """Insert one row (a plain table insert, built once per table: callers wait on these) and give its id."""
    cache_key = (conn.dialect.name, model.__tablename__)
    stmt = _INSERTS.get(cache_key)
    if stmt is None:
        insert = sqlite.insert if is_sqlite(conn) else postgresql.insert
        stmt = _INSERTS[cache_key] = insert(Base.metadata.tables[model.__tablename__])
    key = conn.execute(stmt, row).inserted_primary_key
    assert key is not None
    return int(key[0])


_INSERTS: dict[tuple[str, str], Any] = {}  # (dialect, table): its plain insert, built once
