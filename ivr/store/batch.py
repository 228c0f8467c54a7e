"""The batch writer: journey events, call starts, callers' choices and places queued, written by a thread.

During a call, a webhook only queues its journey event, the call's start and the caller's choices; a
thread writes them every interval, in one transaction. The webhook then never waits for the
database's write lock (which SQLite shares between all the workers).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, Unpack

from sqlalchemy import Connection, Engine, bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite

from ivr.store.core import StoreCore, StoreOptions
from ivr.store.db import is_sqlite
from ivr.store.models import Base, Call, JourneyEvent, KnownCaller, WebhookReply

T = TypeVar("T")

# Batched journey events (Store.batch_events): written this often, or sooner when this many wait.
EVENT_BATCH_S = 0.05
EVENT_BATCH_MAX = 500


@dataclass(frozen=True, slots=True)
class Queued:
    """A write that may wait for the next batch: which statement, its row, and fields for the log."""

    what: str  # one of QUEUED_ORDER
    row: dict[str, Any]
    fields: dict[str, object] | None = None

    def log_fields(self) -> dict[str, object]:
        """What a log line may say about this write (never a number: the row holds pseudonyms only)."""
        if self.fields is not None:
            return self.fields
        return {name: value for name, value in self.row.items() if name != "at"}


class Batched(StoreCore):
    """Queued writes, and reads that first write what this process has queued."""

    def __init__(self, engine: Engine, **options: Unpack[StoreOptions]) -> None:
        super().__init__(engine, **options)
        # Journey events written in batches (batch_events); None: each one at once.
        self._batch_interval: float | None = None
        self._batch_max = EVENT_BATCH_MAX
        self._pending: list[Queued] = []
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # batches are written one at a time, in order
        self._wake = threading.Event()
        self._flusher_pid = 0

    def batch_events(self, interval: float = EVENT_BATCH_S, max_pending: int = EVENT_BATCH_MAX) -> None:
        """From now on, record_event, call_started, save_prefs and the places queue, written every interval.

        What is queued is written by flush(): by the thread, before any read of journey events from
        this store, and at exit. A process killed outright loses at most one interval's writes.
        """
        self._batch_interval = interval
        self._batch_max = max_pending
        atexit.register(self.flush)

    def flush(self) -> bool:
        """Write what is queued now; False (logged as lost writes) if the database failed."""
        with self._flush_lock:
            with self._pending_lock:
                queued, self._pending = self._pending, []
            if not queued:
                return True
            kinds = Counter(item.what for item in queued)
            fields = {
                "events": kinds.pop("record_event", 0),
                "calls": len({item.row["call_sid"] for item in queued if "call_sid" in item.row}),
                "other": " ".join(f"{what}x{n}" for what, n in sorted(kinds.items())) or "-",
            }
            if self._guarded(
                "write_batch", fields, partial(_execute, items=queued), False, write=True, report=False
            ):
                return True
            if self.breaker.down:  # no answer since the batch failed: each one alone would fail too
                self._report("write_batch", fields, "database unavailable", write=True)
                return False
            failure = self.writes.failure
            if failure is not None and failure.refused:  # disk full, read-only: each one would fail too
                self._report("write_batch", fields, failure.reason, write=True)
                return False
            # One statement failed: write the rest one by one, so that only that one is lost.
            for item in queued:
                self._write(item.what, item.log_fields(), partial(_execute, items=[item]), False)
            return False

    def _read(
        self, what: str, fields: Mapping[str, object], work: Callable[[Connection], T], default: T
    ) -> T:
        if self._pending:  # what this process recorded is read back, queued events included
            self.flush()
        return super()._read(what, fields, work, default)

    def _write_soon(self, item: Queued, *more: Queued) -> bool:
        """Queue writes for the next batch; unbatched, write them now, in one transaction (one call
        to the database, with one deadline), logged as the first one if lost."""
        if self._batch_interval is None:
            items = [item, *more]
            return self._write(item.what, item.log_fields(), partial(_execute, items=items), False)
        for each in (item, *more):
            self._queue(each)
        return True

    def _queue(self, item: Queued) -> None:
        with self._pending_lock:
            self._pending.append(item)
            full = len(self._pending) >= self._batch_max
            if self._flusher_pid != os.getpid():  # the first in this process (a forked worker)
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._flush_loop, name="store-batches", daemon=True).start()
        if full:
            self._wake.set()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(self._batch_interval)
            self._wake.clear()
            self.flush()


# A batch is written statement by statement in this order (a call's start before the caller's
# choices, which may be made in the same batch), each statement once for all its rows.
QUEUED_ORDER = ("call_started", "caller_seen", "save_prefs", "save_place", "record_event", "webhook_reply")
_STATEMENTS: dict[tuple[str, str], Any] = {}  # (dialect, what): the statement, built once


def _execute(conn: Connection, items: Sequence[Queued]) -> bool:
    """Write queued rows: one executemany per kind of write, in QUEUED_ORDER."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        rows.setdefault(item.what, []).append(item.row)
    for what in QUEUED_ORDER:
        if what in rows:
            conn.execute(_statement(conn, what), rows[what])
    return True


def _statement(conn: Connection, what: str) -> Any:
    key = (conn.dialect.name, what)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = _build_statement(conn, what)
    return stmt


def _build_statement(conn: Connection, what: str) -> Any:
    """The statements batched writes use: plain Core inserts on the tables, with their conflict rules."""
    insert = sqlite.insert if is_sqlite(conn) else postgresql.insert
    tables = Base.metadata.tables
    if what == "record_event":
        return insert(tables[JourneyEvent.__tablename__])
    if what == "webhook_reply":  # the first reply given for a token is the one kept
        return insert(tables[WebhookReply.__tablename__]).on_conflict_do_nothing(index_elements=["token"])
    if what == "call_started":
        return insert(tables[Call.__tablename__]).on_conflict_do_nothing(index_elements=["call_sid"])
    callers = tables[KnownCaller.__tablename__]
    # Only a caller who consented has a row (Calls.save_consent): these update it, never add one,
    # so nothing is remembered of anyone else (README, Personal data).
    seen = bindparam("seen", type_=callers.c.last_seen.type)
    mine = update(callers).where(callers.c.caller_hash == bindparam("who"), callers.c.consent_at.is_not(None))
    if what == "caller_seen":
        return mine.values(last_seen=seen)
    if what == "save_prefs":
        return mine.values(
            # A choice left out (None) keeps the one saved before.
            language=func.coalesce(bindparam("lang", type_=callers.c.language.type), callers.c.language),
            rate=func.coalesce(bindparam("speed", type_=callers.c.rate.type), callers.c.rate),
            last_seen=seen,
        )
    if what == "save_place":  # a place, or None for none: in the order they were queued
        return mine.values(
            place_node=bindparam("node", type_=callers.c.place_node.type),
            place_part=bindparam("at_part", type_=callers.c.place_part.type),
            place_at=bindparam("place_when", type_=callers.c.place_at.type),
            last_seen=seen,
        )
    raise ValueError(f"no statement for {what!r}")
