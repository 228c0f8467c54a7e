"""The outage policy, "the database is down, keep the line running": a circuit breaker and its log.

After a connection fails, the store is remembered as down for retry_after seconds and every call
skips it (a default instead of a wait for the same failure): the line's one circuit breaker
(ivr/breaker.py), which logs the outage once; each write lost meanwhile is logged too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ivr.breaker import Breaker
from ivr.store.privacy import mask

log = logging.getLogger("ivr.store")

# After a failed connection, calls skip the database this long instead of each waiting to fail.
RETRY_AFTER_S = 5.0


class Outage:
    """Whether the database is remembered as down, and what is said of each failure."""

    def __init__(self, retry_after: float) -> None:
        self.breaker = Breaker(
            "database", retry_after=retry_after, log=log, while_down="calls go on without it"
        )

    def _away(self, what: str, fields: Mapping[str, object], *, write: bool, report: bool) -> bool:
        """Whether the database is remembered as down (and the call should not wait for it)."""
        wait = self.breaker.remaining()
        if wait > 0 and report:
            self._report(what, fields, f"database unavailable, next try in {wait:.1f} s", write=write)
        return wait > 0

    def _down(self) -> bool:
        """Whether an outage is remembered now (nothing logged)."""
        return self.breaker.is_open()

    def _went_away(self, exc: SQLAlchemyError) -> None:
        self.breaker.trip(describe(exc))

    def _came_back(self) -> None:
        self.breaker.succeeded()

    def _failed(
        self, what: str, fields: Mapping[str, object], exc: Exception, *, write: bool, report: bool
    ) -> None:
        if not isinstance(exc, SQLAlchemyError):
            # Not the database's fault, but still no reason to drop the caller.
            log.exception("store %s failed %s", what, log_fields(fields))
            return
        if is_outage(exc):
            self._went_away(exc)
        if report:
            self._report(what, fields, describe(exc), write=write)

    def _report(self, what: str, fields: Mapping[str, object], reason: str, *, write: bool) -> None:
        if write:
            log.warning("LOST WRITE %s %s: %s", what, log_fields(fields), reason)
        else:
            log.warning("read failed %s %s: %s; went on without it", what, log_fields(fields), reason)


def is_outage(exc: SQLAlchemyError) -> bool:
    """The database can't be reached (as opposed to one statement failing, or waiting for a lock)."""
    if isinstance(exc, InterfaceError | PoolTimeoutError):
        return True
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
