"""The Store: the small typed API the web layer uses. A database outage never breaks a call."""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, case, delete, distinct, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ivr.store import migrate as migrations
from ivr.store.db import BEGIN_OPTION, is_sqlite, make_engine, normalise_url, safe_url
from ivr.store.models import (
    Base,
    Call,
    Callback,
    Caller,
    JourneyEvent,
    LoginFailure,
    Recording,
    SmsOutbox,
    StaffUser,
)

T = TypeVar("T")
log = logging.getLogger("ivr.store")

# Only what ivr.privacy makes may stand for a caller: the full digest, or the short log reference.
_PSEUDONYM = re.compile(r"[0-9a-f]{64}|caller-[0-9a-f]{12}")
# Seven digits or more, separators allowed: what a phone number in free text looks like.
_PHONE_LIKE = re.compile(r"\+?\d(?:[\s().-]?\d){6,}")
# After a failed connection, calls skip the database this long instead of each waiting to fail.
RETRY_AFTER_S = 5.0
# Batched journey events (Store.batch_events): written this often, or sooner when this many wait.
EVENT_BATCH_S = 0.05
EVENT_BATCH_MAX = 500
# A call with no end recorded counts as live this long: Twilio ends every call after 4 hours.
LIVE_WINDOW = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class Prefs:
    """What a caller chose last time."""

    language: str | None
    rate: str | None


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call as stored."""

    call_sid: str
    caller_hash: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    status: str
    language: str | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One journey event of a call."""

    at: datetime
    event: str
    node: str
    part: int
    detail: str | None


@dataclass(frozen=True, slots=True)
class CallbackRow:
    """A callback request."""

    id: int
    call_sid: str
    caller_hash: str | None
    callback_number: str
    specialty: str | None
    language: str | None
    requested_at: datetime
    done_at: datetime | None
    done_by: str | None


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """A recorded message."""

    id: int
    call_sid: str
    recording_url: str
    duration_seconds: int | None
    specialty: str | None
    created_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None


@dataclass(frozen=True, slots=True)
class SmsRow:
    """A text message in the outbox."""

    id: int
    call_sid: str | None
    to_number: str
    body: str
    status: str
    twilio_sid: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffRow:
    """A staff user, with the password's hash."""

    id: int
    username: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Counts:
    """What is waiting for staff; available is False when the database could not be read."""

    live_calls: int
    open_callbacks: int
    unreviewed_recordings: int
    available: bool = True


@dataclass(frozen=True, slots=True)
class Listening:
    """Distinct calls seen at each node and at each (node, part); available as in Counts."""

    calls_at_node: dict[str, int]
    calls_at_part: dict[tuple[str, int], int]
    available: bool = True


class Store:
    """Reads and writes for the line; every method returns a safe default if the database fails."""

    def __init__(
        self,
        engine: Engine,
        *,
        migrate: Callable[[Engine], None] | None = None,
        retry_after: float = RETRY_AFTER_S,
    ) -> None:
        self.engine = engine
        self.retry_after = retry_after
        self._migrate = migrate
        self._schema_ready = migrate is None
        self._schema_lock = threading.Lock()
        self._down_until = 0.0
        # Journey events written in batches (batch_events); None: each one at once.
        self._batch_interval: float | None = None
        self._batch_max = EVENT_BATCH_MAX
        self._pending: list[_Queued] = []
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # batches are written one at a time, in order
        self._wake = threading.Event()
        self._flusher_pid = 0

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True, retry_after: float = RETRY_AFTER_S) -> Store:
        """A store on DATABASE_URL; with migrate, the schema is brought to head before first use."""
        return cls(
            make_engine(normalise_url(url)),
            migrate=migrations.upgrade if migrate else None,
            retry_after=retry_after,
        )

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return safe_url(self.engine.url)

    def prepare(self) -> bool:
        """Migrate now (at app start); False, logged, if the database can't be reached."""
        try:
            self._ensure_schema()
        except SQLAlchemyError as exc:
            if not _is_outage(exc):
                raise
            log.error(
                "database %s unavailable at start (%s): the line works without it, losing writes"
                " (logged) until it is back; migrations will be retried then",
                self.url,
                _describe(exc),
            )
            return False
        return True

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def ping(self) -> str | None:
        """Ask the database for SELECT 1: None when it answers, else why not (for /healthz)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            if _is_outage(exc):
                self._down_until = time.monotonic() + self.retry_after
            return _describe(exc)
        # It answers: calls need not wait out the rest of a remembered outage.
        self._down_until = 0.0
        return None

    # Preferences and calls: used during a call.

    def get_prefs(self, caller_hash: str) -> Prefs | None:
        """The caller's saved language and rate; None if unknown (or the database is away)."""
        key = _pseudonym(caller_hash)
        if key is None:
            return None

        row = self._first_row("get_prefs", {"caller": _ref(key)}, _PREFS, {"key": key})
        return Prefs(*row) if row else None

    def save_prefs(self, caller_hash: str, *, language: str | None = None, rate: str | None = None) -> bool:
        """Remember the caller's choices; a None argument leaves that choice as it was."""
        key = _pseudonym(caller_hash)
        if key is None:
            return False
        now = _now()
        row = {
            "caller_hash": key,
            "first_seen": now,
            "last_seen": now,
            "language": _fit(Caller.language, language),
            "rate": _fit(Caller.rate, rate),
        }
        return self._write_soon(
            _Queued("save_prefs", row, {"caller": _ref(key), "language": language, "rate": rate})
        )

    def call_started(self, call_sid: str, caller_hash: str | None, language: str | None) -> bool:
        """Record a new call (a repeated webhook for the same call is harmless)."""
        key = _pseudonym(caller_hash) if caller_hash else None
        now = _now()
        call = {
            "call_sid": _fit(Call.call_sid, call_sid),
            "caller_hash": key,
            "started_at": now,
            "status": "in-progress",
            "language": _fit(Call.language, language),
        }
        ok = self._write_soon(
            _Queued("call_started", call, {"call_sid": call_sid, "caller": _ref(key), "language": language})
        )
        if key:
            seen = {"caller_hash": key, "first_seen": now, "last_seen": now}
            ok = (
                self._write_soon(_Queued("caller_seen", seen, {"call_sid": call_sid, "caller": _ref(key)}))
                and ok
            )
        return ok

    def record_event(
        self, call_sid: str, event: str, node: str, part: int, detail: str | None = None
    ) -> bool:
        """Append one step of the caller's journey; digits that could be a phone number are masked.

        With batch_events on, the event is queued (True) and written with others shortly after.
        """
        row = {
            "call_sid": _fit(JourneyEvent.call_sid, call_sid),
            "at": _now(),
            "event": _fit(JourneyEvent.event, event),
            "node": _fit(JourneyEvent.node, node),
            "part": part,
            "detail": _fit(JourneyEvent.detail, _mask(detail) if detail else None),
        }
        return self._write_soon(_Queued("record_event", row))

    # Batched writes: during a call, a webhook only queues its journey event, the call's start and
    # the caller's choices; a thread writes them every interval, in one transaction. The webhook then
    # never waits for the database's write lock (which SQLite shares between all the workers).

    def batch_events(self, interval: float = EVENT_BATCH_S, max_pending: int = EVENT_BATCH_MAX) -> None:
        """From now on, record_event, call_started and save_prefs queue, and are written every interval.

        What is queued is written by flush(): by the thread, before any read of journey events from
        this store, and at exit. A process killed outright loses at most one interval's writes.
        """
        self._batch_interval = interval
        self._batch_max = max_pending
        atexit.register(self.flush)

    def _write_soon(self, item: _Queued) -> bool:
        if self._batch_interval is None:
            return self._write(item.what, item.log_fields(), partial(_execute, items=[item]), False)
        self._queue(item)
        return True

    def _queue(self, item: _Queued) -> None:
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
            if time.monotonic() < self._down_until:
                self._report("write_batch", fields, "database unavailable", write=True)
                return False
            # One statement failed: write the rest one by one, so that only that one is lost.
            for item in queued:
                self._write(item.what, item.log_fields(), partial(_execute, items=[item]), False)
            return False

    def call_ended(self, call_sid: str, status: str, duration_seconds: int | None) -> bool:
        """Record how a call ended (the call row is made if its start was lost)."""
        fields = {"call_sid": call_sid, "status": status, "duration_seconds": duration_seconds}

        def work(conn: Connection) -> bool:
            ended = _now()
            values = {
                "ended_at": ended,
                "duration_seconds": duration_seconds,
                "status": _fit(Call.status, status),
            }
            started = ended - timedelta(seconds=duration_seconds or 0)
            stmt = _insert(conn, Call).values(
                call_sid=_fit(Call.call_sid, call_sid), started_at=started, **values
            )
            conn.execute(stmt.on_conflict_do_update(index_elements=["call_sid"], set_=values))
            return True

        return self._write("call_ended", fields, work, False)

    def get_call(self, call_sid: str) -> CallRow | None:
        """One call, or None."""

        def work(conn: Connection) -> CallRow | None:
            row = conn.execute(select(*_columns(Call)).where(Call.call_sid == call_sid)).first()
            return CallRow(**row._mapping) if row else None

        return self._read("get_call", {"call_sid": call_sid}, work, None)

    def events_for(self, call_sid: str) -> list[EventRow]:
        """A call's journey, in the order it happened."""

        def work(conn: Connection) -> list[EventRow]:
            cols = (
                JourneyEvent.at,
                JourneyEvent.event,
                JourneyEvent.node,
                JourneyEvent.part,
                JourneyEvent.detail,
            )
            rows = conn.execute(
                select(*cols).where(JourneyEvent.call_sid == call_sid).order_by(JourneyEvent.id)
            )
            return [EventRow(**row._mapping) for row in rows]

        return self._read("events_for", {"call_sid": call_sid}, work, [])

    # Call-centre work: callbacks, recordings, text messages.

    def add_callback(
        self,
        call_sid: str,
        caller_hash: str | None,
        callback_number: str,
        *,
        specialty: str | None = None,
        language: str | None = None,
    ) -> int | None:
        """Queue a callback for staff; its id, or None if it could not be saved."""
        key = _pseudonym(caller_hash) if caller_hash else None
        # The number itself never reaches the log: Twilio's log of this call_sid has it.
        fields = {"call_sid": call_sid, "caller": _ref(key), "specialty": specialty, "language": language}

        def work(conn: Connection) -> int | None:
            row = {
                "call_sid": _fit(Callback.call_sid, call_sid),
                "caller_hash": key,
                "callback_number": _fit(Callback.callback_number, callback_number.strip()),
                "specialty": _fit(Callback.specialty, specialty),
                "language": _fit(Callback.language, language),
                "requested_at": _now(),
            }
            return _inserted_id(conn, Callback, row)

        return self._write("add_callback", fields, work, None)

    def open_callbacks(self, limit: int = 100) -> list[CallbackRow]:
        """Callbacks not yet done, oldest first."""

        def work(conn: Connection) -> list[CallbackRow]:
            stmt = (
                select(*_columns(Callback))
                .where(Callback.done_at.is_(None))
                .order_by(Callback.id)
                .limit(limit)
            )
            return [CallbackRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("open_callbacks", {}, work, [])

    def callback_done(self, callback_id: int, done_by: str) -> bool:
        """Mark a callback done; False if it was already done or does not exist."""
        fields = {"callback_id": callback_id, "done_by": done_by}

        def work(conn: Connection) -> bool:
            stmt = (
                update(Callback)
                .where(Callback.id == callback_id, Callback.done_at.is_(None))
                .values(done_at=_now(), done_by=_fit(Callback.done_by, done_by))
            )
            return conn.execute(stmt).rowcount == 1

        return self._write("callback_done", fields, work, False)

    def add_recording(
        self,
        call_sid: str,
        recording_url: str,
        *,
        duration_seconds: int | None = None,
        specialty: str | None = None,
    ) -> int | None:
        """Keep a recorded message for review; its id, or None if it could not be saved."""
        fields = {"call_sid": call_sid, "recording_url": recording_url, "specialty": specialty}

        def work(conn: Connection) -> int | None:
            row = {
                "call_sid": _fit(Recording.call_sid, call_sid),
                "recording_url": _fit(Recording.recording_url, recording_url),
                "duration_seconds": duration_seconds,
                "specialty": _fit(Recording.specialty, specialty),
                "created_at": _now(),
            }
            return _inserted_id(conn, Recording, row)

        return self._write("add_recording", fields, work, None)

    def recordings(self, *, unreviewed_only: bool = True, limit: int = 100) -> list[RecordingRow]:
        """Recorded messages, oldest first."""

        def work(conn: Connection) -> list[RecordingRow]:
            stmt = select(*_columns(Recording)).order_by(Recording.id).limit(limit)
            if unreviewed_only:
                stmt = stmt.where(Recording.reviewed_at.is_(None))
            return [RecordingRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("recordings", {}, work, [])

    def queue_sms(self, call_sid: str | None, to_number: str, body: str) -> int | None:
        """Put a text message in the outbox; its id, or None if it could not be saved."""
        fields = {"call_sid": call_sid, "chars": len(body)}

        def work(conn: Connection) -> int | None:
            row = {
                "call_sid": _fit(SmsOutbox.call_sid, call_sid),
                "to_number": _fit(SmsOutbox.to_number, to_number.strip()),
                "body": body,
                "status": "queued",
                "created_at": _now(),
            }
            return _inserted_id(conn, SmsOutbox, row)

        return self._write("queue_sms", fields, work, None)

    def queued_sms(self, limit: int = 100) -> list[SmsRow]:
        """Messages waiting to be sent, oldest first."""

        def work(conn: Connection) -> list[SmsRow]:
            stmt = select(*_columns(SmsOutbox)).where(SmsOutbox.status == "queued").order_by(SmsOutbox.id)
            return [SmsRow(**row._mapping) for row in conn.execute(stmt.limit(limit))]

        return self._read("queued_sms", {}, work, [])

    def sms_sent(self, sms_id: int, twilio_sid: str) -> bool:
        """Mark a queued message sent, with Twilio's message SID."""
        values = {"status": "sent", "twilio_sid": _fit(SmsOutbox.twilio_sid, twilio_sid), "sent_at": _now()}
        return self._sms_outcome("sms_sent", sms_id, values)

    def sms_failed(self, sms_id: int, error: str) -> bool:
        """Mark a queued message failed, with the reason."""
        values = {"status": "failed", "error": _fit(SmsOutbox.error, _mask(error))}
        return self._sms_outcome("sms_failed", sms_id, values)

    def _sms_outcome(self, what: str, sms_id: int, values: dict[str, Any]) -> bool:
        def work(conn: Connection) -> bool:
            stmt = (
                update(SmsOutbox).where(SmsOutbox.id == sms_id, SmsOutbox.status == "queued").values(values)
            )
            return conn.execute(stmt).rowcount == 1

        return self._write(what, {"sms_id": sms_id, "status": values["status"]}, work, False)

    # The staff dashboard: who may log in, and what they see.

    def add_staff_user(self, username: str, password_hash: str) -> bool:
        """Add a staff user (a password hash, never the password); False if the name is taken."""
        fields = {"username": username}

        def work(conn: Connection) -> bool:
            stmt = (
                _insert(conn, StaffUser)
                .values(username=username, password_hash=password_hash, created_at=_now())
                .on_conflict_do_nothing(index_elements=["username"])
                .returning(StaffUser.id)
            )
            # rowcount is -1 here on PostgreSQL (the insert returns its id): ask for the row instead.
            return conn.execute(stmt).first() is not None

        return self._write("add_staff_user", fields, work, False)

    def set_staff_password(self, username: str, password_hash: str) -> bool:
        """Replace a staff user's password hash; False if there is no such user."""

        def work(conn: Connection) -> bool:
            stmt = update(StaffUser).where(StaffUser.username == username).values(password_hash=password_hash)
            return conn.execute(stmt).rowcount == 1

        return self._write("set_staff_password", {"username": username}, work, False)

    def staff_user(self, username: str) -> StaffRow | None:
        """A staff user by name, or None."""

        def work(conn: Connection) -> StaffRow | None:
            row = conn.execute(select(*_columns(StaffUser)).where(StaffUser.username == username)).first()
            return StaffRow(**row._mapping) if row else None

        return self._read("staff_user", {"username": username}, work, None)

    def staff_usernames(self) -> list[str]:
        """Every staff user's name, in order."""

        def work(conn: Connection) -> list[str]:
            return list(conn.scalars(select(StaffUser.username).order_by(StaffUser.username)))

        return self._read("staff_usernames", {}, work, [])

    # Failed staff logins (ivr/web/throttle.py), shared by every server worker. None: no database.

    def login_failures(self, keys: Sequence[str], now: float) -> list[tuple[int, float]] | None:
        """Each key's failures in its window and the seconds left in it, (0, 0.0) for none."""

        def work(conn: Connection) -> list[tuple[int, float]]:
            stmt = select(LoginFailure.key, LoginFailure.failures, LoginFailure.window_ends).where(
                LoginFailure.key.in_(keys), LoginFailure.window_ends > now
            )
            found = {key: (failures, ends - now) for key, failures, ends in conn.execute(stmt)}
            return [found.get(key, (0, 0.0)) for key in keys]

        return self._read("login_failures", {}, work, None)

    def add_login_failure(self, keys: Sequence[str], now: float, window_s: float) -> list[int] | None:
        """Count one failure against each key (a new window if its last has ended); the counts now."""

        def work(conn: Connection) -> list[int]:
            table = LoginFailure.__table__
            insert = _insert(conn, LoginFailure)
            open_ = table.c.window_ends > now
            stmt = insert.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": case((open_, table.c.failures + 1), else_=1),
                    "window_ends": case((open_, table.c.window_ends), else_=insert.excluded.window_ends),
                },
            ).returning(table.c.failures)
            row = {"failures": 1, "window_ends": now + window_s}
            counts = [int(conn.execute(stmt, {"key": key, **row}).scalar_one()) for key in keys]
            # Windows long ended count for nothing: forget them (a few rows, by the index).
            conn.execute(delete(LoginFailure).where(LoginFailure.window_ends < now - window_s))
            return counts

        return self._write("add_login_failure", {}, work, None)

    def clear_login_failures(self, key: str) -> bool:
        """Forget a key's failures; False if the database could not be reached."""

        def work(conn: Connection) -> bool:
            conn.execute(delete(LoginFailure).where(LoginFailure.key == key))
            return True

        return self._write("clear_login_failures", {}, work, False)

    def live_calls(self, window: timedelta = LIVE_WINDOW, limit: int = 100) -> list[CallRow]:
        """Calls that have not ended and started within the window, newest first."""

        def work(conn: Connection) -> list[CallRow]:
            stmt = (
                select(*_columns(Call))
                .where(Call.ended_at.is_(None), Call.started_at >= _now() - window)
                .order_by(Call.started_at.desc(), Call.call_sid)
                .limit(limit)
            )
            return [CallRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("live_calls", {}, work, [])

    def oldest_waiting(self, event: str, window: timedelta = LIVE_WINDOW) -> str | None:
        """The call that has waited longest with `event` as its latest journey event (e.g. in a queue)."""

        def work(conn: Connection) -> str | None:
            latest = (
                select(JourneyEvent.call_sid, func.max(JourneyEvent.id).label("last"))
                .where(JourneyEvent.at >= _now() - window)
                .group_by(JourneyEvent.call_sid)
                .subquery()
            )
            stmt = (
                select(JourneyEvent.call_sid)
                .join(latest, JourneyEvent.id == latest.c.last)
                .where(JourneyEvent.event == event)
                .order_by(JourneyEvent.id)
                .limit(1)
            )
            return conn.execute(stmt).scalar_one_or_none()

        return self._read("oldest_waiting", {"event": event}, work, None)

    def ended_calls(self, limit: int = 50) -> list[CallRow]:
        """The most recent calls that have ended, newest first."""

        def work(conn: Connection) -> list[CallRow]:
            stmt = (
                select(*_columns(Call))
                .where(Call.ended_at.is_not(None))
                .order_by(Call.started_at.desc(), Call.call_sid)
                .limit(limit)
            )
            return [CallRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("ended_calls", {}, work, [])

    def events_for_calls(self, call_sids: Sequence[str]) -> dict[str, list[EventRow]]:
        """The journeys of several calls at once, each in the order it happened."""
        wanted = list(dict.fromkeys(call_sids))
        if not wanted:
            return {}

        def work(conn: Connection) -> dict[str, list[EventRow]]:
            cols = (
                JourneyEvent.call_sid,
                JourneyEvent.at,
                JourneyEvent.event,
                JourneyEvent.node,
                JourneyEvent.part,
                JourneyEvent.detail,
            )
            found: dict[str, list[EventRow]] = {sid: [] for sid in wanted}
            stmt = select(*cols).where(JourneyEvent.call_sid.in_(wanted)).order_by(JourneyEvent.id)
            for row in conn.execute(stmt):
                found[row.call_sid].append(EventRow(row.at, row.event, row.node, row.part, row.detail))
            return found

        return self._read("events_for_calls", {"calls": len(wanted)}, work, {})

    def callbacks(self, *, open_only: bool = True, limit: int = 100) -> list[CallbackRow]:
        """Callback requests, oldest first (open ones only, or every one)."""

        def work(conn: Connection) -> list[CallbackRow]:
            stmt = select(*_columns(Callback)).order_by(Callback.id).limit(limit)
            if open_only:
                stmt = stmt.where(Callback.done_at.is_(None))
            return [CallbackRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("callbacks", {}, work, [])

    def recording_reviewed(self, recording_id: int, reviewed_by: str) -> bool:
        """Mark a recorded message reviewed by a staff user; False if it already was or does not exist."""
        fields = {"recording_id": recording_id, "reviewed_by": reviewed_by}

        def work(conn: Connection) -> bool:
            stmt = (
                update(Recording)
                .where(Recording.id == recording_id, Recording.reviewed_at.is_(None))
                .values(reviewed_at=_now(), reviewed_by=_fit(Recording.reviewed_by, reviewed_by))
            )
            return conn.execute(stmt).rowcount == 1

        return self._write("recording_reviewed", fields, work, False)

    def counts(self, window: timedelta = LIVE_WINDOW) -> Counts:
        """How much is waiting for staff: live calls, open callbacks, unreviewed recordings."""

        def work(conn: Connection) -> Counts:
            def count(stmt: Any) -> int:
                return int(conn.scalar(stmt) or 0)

            return Counts(
                live_calls=count(
                    select(func.count())
                    .select_from(Call)
                    .where(Call.ended_at.is_(None), Call.started_at >= _now() - window)
                ),
                open_callbacks=count(
                    select(func.count()).select_from(Callback).where(Callback.done_at.is_(None))
                ),
                unreviewed_recordings=count(
                    select(func.count()).select_from(Recording).where(Recording.reviewed_at.is_(None))
                ),
            )

        return self._read("counts", {}, work, Counts(0, 0, 0, available=False))

    def listening(self) -> Listening:
        """How many calls were at each node, and at each part of it (for listening counts)."""

        def work(conn: Connection) -> Listening:
            calls = func.count(distinct(JourneyEvent.call_sid))
            by_node = conn.execute(select(JourneyEvent.node, calls).group_by(JourneyEvent.node))
            by_part = conn.execute(
                select(JourneyEvent.node, JourneyEvent.part, calls).group_by(
                    JourneyEvent.node, JourneyEvent.part
                )
            )
            return Listening(
                calls_at_node={node: int(n) for node, n in by_node},
                calls_at_part={(node, int(part)): int(n) for node, part, n in by_part},
            )

        return self._read("listening", {}, work, Listening({}, {}, available=False))

    def drop_offs(self) -> dict[str, int]:
        """For calls that have ended: how many ended at each node (where their last event was)."""

        def work(conn: Connection) -> dict[str, int]:
            last = (
                select(func.max(JourneyEvent.id).label("id"))
                .group_by(JourneyEvent.call_sid)
                .subquery("last_event")
            )
            stmt = (
                select(JourneyEvent.node, func.count())
                .join(last, JourneyEvent.id == last.c.id)
                .join(Call, Call.call_sid == JourneyEvent.call_sid)
                .where(Call.ended_at.is_not(None))
                .group_by(JourneyEvent.node)
            )
            return {node: int(n) for node, n in conn.execute(stmt)}

        return self._read("drop_offs", {}, work, {})

    # The safety net.

    def _write(
        self, what: str, fields: Mapping[str, object], work: Callable[[Connection], T], default: T
    ) -> T:
        return self._guarded(what, fields, work, default, write=True)

    def _read(
        self,
        what: str,
        fields: Mapping[str, object],
        work: Callable[[Connection], T],
        default: T,
        *,
        events: bool = True,
        one_statement: bool = False,
    ) -> T:
        if events and self._pending:  # what this process recorded is read back, queued events included
            self.flush()
        return self._guarded(what, fields, work, default, write=False, one_statement=one_statement)

    def _guarded(
        self,
        what: str,
        fields: Mapping[str, object],
        work: Callable[[Connection], T],
        default: T,
        *,
        write: bool,
        report: bool = True,
        one_statement: bool = False,
    ) -> T:
        if self._away(what, fields, write=write, report=report):
            return default
        try:
            self._ensure_schema()
            with self.engine.connect() as conn:
                if is_sqlite(conn) and (write or one_statement):
                    # A single SELECT is consistent by itself: no BEGIN (nor COMMIT) round trip.
                    conn = conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE" if write else "NONE"})
                with conn.begin():
                    return work(conn)
        except Exception as exc:
            self._failed(what, fields, exc, write=write, report=report)
        return default

    def _first_row(
        self, what: str, fields: Mapping[str, object], stmt: Any, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of one SELECT (None: no row, or no database), on a pooled DBAPI connection.

        Operations: asked at the start of every call, where SQLAlchemy's own execution would cost
        about seven times the query (on SQLite, 130 against 19 us).
        """
        if self._away(what, fields, write=False, report=True):
            return None
        sql, names = self._compiled(stmt)
        params: Any = tuple(values[name] for name in names) if names is not None else dict(values)
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            self._ensure_schema()
            conn = self.engine.raw_connection()  # pool errors come wrapped, as SQLAlchemyError
            try:
                cursor = conn.cursor()
                cursor.execute(sql, params)
                row = cursor.fetchone()
                cursor.close()
            except dbapi_error as exc:
                raise DBAPIError.instance(sql, params, exc, dbapi_error) from exc
            finally:
                conn.close()  # back to the pool, which rolls back whatever the SELECT began
            return tuple(row) if row is not None else None
        except Exception as exc:
            self._failed(what, fields, exc, write=False, report=True)
        return None

    def _compiled(self, stmt: Any) -> tuple[str, tuple[str, ...] | None]:
        """A statement's SQL for this database, and its parameter names in order (None: by name)."""
        key = (self.engine.dialect.name, id(stmt))
        found = _COMPILED.get(key)
        if found is None:
            compiled = stmt.compile(dialect=self.engine.dialect)
            names = tuple(compiled.positiontup) if compiled.positiontup is not None else None
            found = _COMPILED[key] = (compiled.string, names)
        return found

    def _away(self, what: str, fields: Mapping[str, object], *, write: bool, report: bool) -> bool:
        """Whether the database is remembered as down (and the call should not wait for it)."""
        wait = self._down_until - time.monotonic()
        if wait > 0 and report:
            self._report(what, fields, f"database unavailable, next try in {wait:.1f} s", write=write)
        return wait > 0

    def _failed(
        self, what: str, fields: Mapping[str, object], exc: Exception, *, write: bool, report: bool
    ) -> None:
        if not isinstance(exc, SQLAlchemyError):
            # Not the database's fault, but still no reason to drop the caller.
            log.exception("store %s failed %s", what, _fields(fields))
            return
        if _is_outage(exc):
            self._down_until = time.monotonic() + self.retry_after
        if report:
            self._report(what, fields, _describe(exc), write=write)

    def _ensure_schema(self) -> None:
        if self._schema_ready or self._migrate is None:
            return
        with self._schema_lock:
            if not self._schema_ready:
                self._migrate(self.engine)
                self._schema_ready = True

    def _report(self, what: str, fields: Mapping[str, object], reason: str, *, write: bool) -> None:
        if write:
            log.warning("LOST WRITE %s %s: %s", what, _fields(fields), reason)
        else:
            log.warning("read failed %s %s: %s; went on without it", what, _fields(fields), reason)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Queued:
    """A write that may wait for the next batch: which statement, its row, and fields for the log."""

    what: str  # a key of _QUEUED_ORDER
    row: dict[str, Any]
    fields: dict[str, object] | None = None

    def log_fields(self) -> dict[str, object]:
        """What a log line may say about this write (never a number: the row holds pseudonyms only)."""
        if self.fields is not None:
            return self.fields
        return {name: value for name, value in self.row.items() if name != "at"}


# Asked at the start of every call: built once, not per call.
_COMPILED: dict[tuple[str, int], tuple[str, tuple[str, ...] | None]] = {}  # see Store._compiled
_PREFS = select(Caller.language, Caller.rate).where(Caller.caller_hash == bindparam("key"))

# A batch is written statement by statement in this order (a call's start before the caller's
# choices, which may be made in the same batch), each statement once for all its rows.
_QUEUED_ORDER = ("call_started", "caller_seen", "save_prefs", "record_event")
_STATEMENTS: dict[tuple[str, str], Any] = {}  # (dialect, what): the statement, built once


def _execute(conn: Connection, items: Sequence[_Queued]) -> bool:
    """Write queued rows: one executemany per kind of write, in _QUEUED_ORDER."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        rows.setdefault(item.what, []).append(item.row)
    for what in _QUEUED_ORDER:
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
    if what == "call_started":
        return insert(tables[Call.__tablename__]).on_conflict_do_nothing(index_elements=["call_sid"])
    callers = tables[Caller.__tablename__]
    stmt = insert(callers)
    if what == "caller_seen":
        return stmt.on_conflict_do_update(
            index_elements=["caller_hash"], set_={"last_seen": stmt.excluded.last_seen}
        )
    if what == "save_prefs":
        return stmt.on_conflict_do_update(
            index_elements=["caller_hash"],
            set_={
                # A choice left out (None) keeps the one saved before.
                "language": func.coalesce(stmt.excluded.language, callers.c.language),
                "rate": func.coalesce(stmt.excluded.rate, callers.c.rate),
                "last_seen": stmt.excluded.last_seen,
            },
        )
    raise ValueError(f"no statement for {what!r}")


def _pseudonym(value: str | None) -> str | None:
    """The value if it is a pseudonym ivr.privacy made; anything else (a number!) is never stored."""
    if value is not None and _PSEUDONYM.fullmatch(value):
        return value
    if value not in (None, "", "unknown"):
        # Said without the value: it may well be a phone number.
        log.error("refused a caller_hash that is not a pseudonym from ivr.privacy.caller_hash: not stored")
    return None


def _ref(key: str | None) -> str:
    """The short form the webhook logs use, so that log lines and rows can be matched."""
    if not key:
        return "unknown"
    return key if key.startswith("caller-") else "caller-" + key[:12]


def _mask(text: str) -> str:
    return _PHONE_LIKE.sub("<number>", text)


def _fields(fields: Mapping[str, object]) -> str:
    return " ".join(f"{name}={value}" for name, value in fields.items())


def _fit(column: Any, value: str | None) -> str | None:
    """Cut a string to its column's length: a long value must not lose the whole row."""
    # column.type costs microseconds on a mapped attribute (it goes through the comparator): keep it.
    key = id(column)
    if key not in _LENGTHS:
        _LENGTHS[key] = getattr(column.type, "length", None)
    length = _LENGTHS[key]
    return value[:length] if value is not None and length else value


_LENGTHS: dict[int, int | None] = {}  # id of a mapped attribute (they live as long as the models): length


def _columns(model: type[Base]) -> list[Any]:
    return list(model.__table__.columns)


def _insert(conn: Connection, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
    return sqlite.insert(model) if is_sqlite(conn) else postgresql.insert(model)


def _inserted_id(conn: Connection, model: type[Base], row: dict[str, Any]) -> int:
    """Insert one row (a plain table insert, built once per table: callers wait on these) and give its id."""
    cache_key = (conn.dialect.name, model.__tablename__)
    stmt = _STATEMENTS.get(cache_key)
    if stmt is None:
        insert = sqlite.insert if is_sqlite(conn) else postgresql.insert
        stmt = _STATEMENTS[cache_key] = insert(Base.metadata.tables[model.__tablename__])
    key = conn.execute(stmt, row).inserted_primary_key
    assert key is not None
    return int(key[0])


def _is_outage(exc: SQLAlchemyError) -> bool:
    """The database can't be reached (as opposed to one statement failing, or waiting for a lock)."""
    if isinstance(exc, InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return not any(word in text for word in ("locked", "busy", "canceling statement"))
    return False


def _describe(exc: SQLAlchemyError) -> str:
    """Exception class and first line only: the rest can hold the statement's parameters."""
    source: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(source).strip().splitlines()
    return f"{type(exc).__name__}: {_mask(lines[0] if lines else type(source).__name__)[:300]}"
