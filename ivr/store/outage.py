"""The outage policy, "the database is down, keep the line running": a circuit breaker and its log.

After a connection fails (or a call passes its deadline: ivr/store/deadline.py), the store is
remembered as down for retry_after seconds and every call skips it (a default instead of a wait for
the same failure): the line's one circuit breaker (ivr/breaker.py), which logs the outage once; each
write lost meanwhile is logged too. A database that answers but refuses writes (disk full,
read-only) is not down: reads go on, and Writes says that writes are failing, for /healthz.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ivr.breaker import Breaker
from ivr.store.deadline import DeadlineExceededError
from ivr.store.privacy import mask

log = logging.getLogger("ivr.store")

# After a failed connection, calls skip the database this long instead of each waiting to fail.
RETRY_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """Writes are failing: since when (time.monotonic()), the last reason, and whether the database
    refused them (disk full, read-only) rather than could not be reached."""

    since: float
    reason: str
    refused: bool


class Writes:
    """Whether this process's writes are being stored: failing from a lost write until the next one
    stored (a line with no writes since keeps saying so: nothing has shown that they work again)."""

    def __init__(self) -> None:
        self._failure: WriteFailure | None = None
        self._lock = threading.Lock()

    @property
    def failure(self) -> WriteFailure | None:
        """Why writes are failing now, or None when the last write was stored."""
        return self._failure

    def lost(self, reason: str, *, refused: bool = False) -> None:
        """A write was lost (or skipped, the database being down)."""
        with self._lock:
            since = self._failure.since if self._failure is not None else time.monotonic()
            self._failure = WriteFailure(since, reason, refused)

    def stored(self) -> None:
        """A write was stored: writes work (again)."""
        if self._failure is not None:  # the usual case: nothing to change, no lock
            with self._lock:
                self._failure = None


class Outage:
    """Whether the database is remembered as down, and what is said of each failure."""

    def __init__(self, retry_after: float) -> None:
        self.breaker = Breaker(
            "database", retry_after=retry_after, log=log, while_down="calls go on without it"
        )
        self.writes = Writes()
        self.outage_reason = ""  # why the database was last found down (for /healthz)

    def _away(self, what: str, fields: Mapping[str, object], *, write: bool, report: bool) -> bool:
        """Whether the database is remembered as down (and the call should not wait for it)."""
        wait = self.breaker.remaining()
        if wait > 0:
            reason = f"database unavailable, next try in {wait:.1f} s"
            if write:
                self.writes.lost(reason)
            if report:
                self._report(what, fields, reason, write=write)
        return wait > 0

    def _went_away(self, exc: SQLAlchemyError) -> None:
        self.outage_reason = describe(exc)
        self.breaker.trip(self.outage_reason)

    def _came_back(self) -> None:
        self.breaker.succeeded()

    def _failed(
        self, what: str, fields: Mapping[str, object], exc: Exception, *, write: bool, report: bool
    ) -> None:
        if not isinstance(exc, SQLAlchemyError):
            # Not the database's fault, but still no reason to drop the caller.
            log.exception("store %s failed %s", what, log_fields(fields))
            if write:
                self.writes.lost(f"{type(exc).__name__} in the line's own code")
            return
        if is_outage(exc):
            self._went_away(exc)
        else:
            self._came_back()  # it answered, if only to refuse this statement
        if write:
            self.writes.lost(describe(exc), refused=refuses_writes(exc))
        if report:
            self._report(what, fields, describe(exc), write=write)

    def _report(self, what: str, fields: Mapping[str, object], reason: str, *, write: bool) -> None:
        if write:
            log.warning("LOST WRITE %s %s: %s", what, log_fields(fields), reason)
        else:
            log.warning("read failed %s %s: %s; went on without it", what, log_fields(fields), reason)


# SQLite result codes (https://www.sqlite.org/rescode.html) of a file that can be read but not
# written: SQLITE_FULL (disk or max_page_count full), SQLITE_READONLY (and its extended codes).
SQLITE_REFUSALS = ("SQLITE_FULL", "SQLITE_READONLY")
# PostgreSQL SQLSTATEs (Appendix A of its manual): 53100 disk_full, 25006 read_only_sql_transaction
# (e.g. a standby after a failover).
POSTGRES_REFUSALS = ("53100", "25006")


def refuses_writes(exc: SQLAlchemyError) -> bool:
    """The database answers but cannot store anything: its disk is full, or it is read-only."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if isinstance(orig, sqlite3.Error):
        return (orig.sqlite_errorname or "").startswith(SQLITE_REFUSALS)
    return getattr(orig, "sqlstate", None) in POSTGRES_REFUSALS


def is_outage(exc: SQLAlchemyError) -> bool:
    """The database can't be reached or does not answer in time (as opposed to one statement
    failing, waiting for a lock, or the database refusing writes while it still answers reads)."""
    if isinstance(exc, InterfaceError | PoolTimeoutError | DeadlineExceededError):
        return True
    if refuses_writes(exc):
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return not any(word in text for word in ("locked", "busy", "canceling statement"))
    return False


def describe(exc: SQLAlchemyError) -> str:
    """Exception class and first line only: the rest can hold the statement's parameters."""
    source: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(source).strip().splitlines()
    return f"{type(exc).__name__}: {mask(lines[0] if lines else type(source).__name__)[:300]}"


def log_fields(fields: Mapping[str, object]) -> str:
    """A write's or read's fields as a log line says them: name=value, space-separated."""
    return " ".join(f"{name}={value}" for name, value in fields.items())
