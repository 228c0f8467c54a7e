"""Databases that answer but refuse every write, as a full disk or a read-only database does.

Each is the database's own refusal on its own connections, not a stub: SQLite's page limit
(`PRAGMA max_page_count`, the limit a full disk sets: SQLITE_FULL, "database or disk is full"),
SQLite's `PRAGMA query_only` (SQLITE_READONLY) and PostgreSQL's `default_transaction_read_only`
(SQLSTATE 25006, as on a standby after a failover). They hold on connections made from now on:
the pool's connections are dropped when the refusal starts and when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from ivr.store import Store

REFUSALS = ("sqlite-disk-full", "sqlite-read-only", "postgres-read-only")


def backend(refusal: str) -> str:
    """Which backend a refusal is made on: "sqlite" or "postgres"."""
    return refusal.split("-", 1)[0]


@contextmanager
def refusing_writes(store: Store, refusal: str) -> Iterator[None]:
    """Inside the block the store's database refuses every write (reads still work)."""
    if refusal not in REFUSALS:
        raise ValueError(f"unknown refusal {refusal!r}: one of {REFUSALS}")

    def refuse(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if refusal == "sqlite-disk-full":
            # No page beyond those the file has now: the next write needing a page fails.
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count = {int(pages)}")
        elif refusal == "sqlite-read-only":
            cursor.execute("PRAGMA query_only = 1")
        else:
            cursor.execute("SET SESSION default_transaction_read_only = on")
            dbapi_connection.commit()
        cursor.close()

    store.engine.dispose()
    event.listen(store.engine, "connect", refuse)
    try:
        yield
    finally:
        event.remove(store.engine, "connect", refuse)
        store.engine.dispose()
