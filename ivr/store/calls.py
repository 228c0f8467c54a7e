"""Calls and their journeys: callers' saved choices and places, each call's start and end, its journey
events."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Subquery, bindparam, func, select, update

from ivr.store.batch import Batched, Queued
from ivr.store.core import columns, fit, insert_for, utc_now
from ivr.store.fastpath import RawReads
from ivr.store.models import Call, JourneyEvent, KnownCaller
from ivr.store.privacy import mask, pseudonym, ref

# A call with no end recorded counts as live this long: Twilio ends every call after 4 hours.
LIVE_WINDOW = timedelta(hours=4)
# A call's events in the order they happened: by the time each was recorded, then by id. Not by
# id alone: each server (each worker) writes its events in batches, so with two servers a call's
# later step can be written, and numbered, before an earlier one. (Servers' clocks must agree to
# better than the time between a caller's two requests: keep them synchronised, e.g. with NTP.)
IN_ORDER = (JourneyEvent.at, JourneyEvent.id)
# Where a caller stopped inside a topic is kept this long from when they were last there: never
# offered after it, and purged (prune_places, at most every PRUNE_PLACES_EVERY_S per process).
KEEP_PLACE = timedelta(days=30)
PRUNE_PLACES_EVERY_S = 600.0


def latest_events(*where: ColumnElement[bool]) -> Subquery:
    """The `id` of each call's latest journey event (IN_ORDER), among the events `where` allows:
    a subquery with one column, `id`."""
    rank = func.row_number().over(
        partition_by=JourneyEvent.call_sid, order_by=(JourneyEvent.at.desc(), JourneyEvent.id.desc())
    )
    ranked = select(JourneyEvent.id, rank.label("rank")).where(*where).subquery("ranked")
    return select(ranked.c.id).where(ranked.c.rank == 1).subquery("latest_event")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a caller stopped inside a topic: a section id, the part they were hearing, and when."""

    node: str
    part: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Prefs:
    """What a caller chose last time, and where they stopped inside a topic (within KEEP_PLACE)."""

    language: str | None
    rate: str | None
    place: Place | None = None


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


# Asked at the start of every call: built once, not per call (and so compiled once, see RawReads).
_PREFS = select(
    KnownCaller.language,
    KnownCaller.rate,
    KnownCaller.place_node,
    KnownCaller.place_part,
    KnownCaller.place_at,
).where(KnownCaller.caller_hash == bindparam("key"), KnownCaller.consent_at.is_not(None))


class Calls(Batched, RawReads):
    """Preferences and calls: written during a call, read back by the line and the staff pages."""

    _places_pruned_at = float("-inf")  # time.monotonic() of this process's last prune_places

    def get_prefs(self, caller_hash: str, now: datetime | None = None) -> Prefs | None:
        """The caller's saved language and rate, and their place if it is younger than KEEP_PLACE
        (an older one is never given, purged or not); None if unknown (or the database is away)."""
        key = pseudonym(caller_hash)
        if key is None:
            return None

        row = self._first_row("get_prefs", {"caller": ref(key)}, _PREFS, {"key": key})
        if not row:
            return None
        language, rate, node, part, at = row
        place = None
        when = _utc(at)
        if (
            node is not None
            and part is not None
            and when is not None
            and when >= (now or utc_now()) - KEEP_PLACE
        ):
            place = Place(str(node), int(part), when)
        return Prefs(language, rate, place)

    def save_prefs(self, caller_hash: str, *, language: str | None = None, rate: str | None = None) -> bool:
        """Remember the caller's choices, if they consented (save_consent); a None argument leaves
        that choice as it was. Without consent nothing is written (True: nothing went wrong)."""
        row = _caller_row(caller_hash)
        if row is None:
            return False
        row |= {"lang": fit(KnownCaller.language, language), "speed": fit(KnownCaller.rate, rate)}
        fields: dict[str, object] = {"caller": ref(row["who"]), "language": language, "rate": rate}
        return self._write_soon(Queued("save_prefs", row, fields))

    def save_consent(
        self, caller_hash: str, version: str, *, language: str, rate: str, now: datetime | None = None
    ) -> bool:
        """The caller agreed to be remembered, after hearing notice `version`: keep their language
        and speed from now on, with when they agreed (written at once, not batched: every later
        write of theirs needs the row). False if not a pseudonym or the database failed."""
        key = pseudonym(caller_hash)
        if key is None:
            return False
        at = now or utc_now()
        values = {
            "language": fit(KnownCaller.language, language),
            "rate": fit(KnownCaller.rate, rate),
            "consent_at": at,
            "consent_version": fit(KnownCaller.consent_version, version),
            "last_seen": at,
        }

        def work(conn: Connection) -> bool:
            stmt = insert_for(conn, KnownCaller).values(caller_hash=key, first_seen=at, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["caller_hash"], set_=values))
            return True

        fields = {"caller": ref(key), "version": version, "language": language, "rate": rate}
        return self._write("save_consent", fields, work, False)

    def save_place(self, caller_hash: str, node: str, part: int) -> bool:
        """Remember the part of a topic the caller is hearing now, for their next call (consented
        callers only, as save_prefs)."""
        return self._place(caller_hash, node, part)

    def forget_place(self, caller_hash: str) -> bool:
        """Forget where the caller was (they reached the topic's end)."""
        return self._place(caller_hash, None, None)

    def _place(self, caller_hash: str, node: str | None, part: int | None) -> bool:
        row = _caller_row(caller_hash)
        if row is None:
            return False
        row |= {
            "node": fit(KnownCaller.place_node, node),
            "at_part": part,
            "place_when": row["seen"] if node is not None else None,
        }
        fields: dict[str, object] = {"caller": ref(row["who"]), "node": node, "part": part}
        ok = self._write_soon(Queued("save_place", row, fields))
        self._prune_places_now_and_then()
        return ok

    def _prune_places_now_and_then(self) -> None:
        """Purge old places at a call's start or a place's save, at most every PRUNE_PLACES_EVERY_S
        once it worked (unreported when it did not: nothing of a caller's is lost, and the next
        call tries again; an old place is never offered meanwhile)."""
        if time.monotonic() - self._places_pruned_at <= PRUNE_PLACES_EVERY_S:
            return
        if self._pruned(utc_now(), report=False) is not None:
            self._places_pruned_at = time.monotonic()

    def prune_places(self, now: datetime | None = None) -> int:
        """Forget every place older than KEEP_PLACE; how many (0 when the database failed, logged)."""
        return self._pruned(now or utc_now(), report=True) or 0

    def _pruned(self, now: datetime, *, report: bool) -> int | None:
        before = now - KEEP_PLACE
        forgotten = {"place_node": None, "place_part": None, "place_at": None}

        def work(conn: Connection) -> int:
            stmt = update(KnownCaller).where(KnownCaller.place_at < before).values(**forgotten)
            return int(conn.execute(stmt).rowcount)

        return self._guarded("prune_places", {}, work, None, write=True, report=report)

    def call_started(self, call_sid: str, caller_hash: str | None, language: str | None) -> bool:
        """Record a new call (a repeated webhook for the same call is harmless)."""
        key = pseudonym(caller_hash) if caller_hash else None
        now = utc_now()
        call = {
            "call_sid": fit(Call.call_sid, call_sid),
            "caller_hash": key,
            "started_at": now,
            "status": "in-progress",
            "language": fit(Call.language, language),
        }
        fields: dict[str, object] = {"call_sid": call_sid, "caller": ref(key)}
        started = Queued("call_started", call, {**fields, "language": language})
        self._prune_places_now_and_then()
        if not key:
            return self._write_soon(started)
        seen = {"who": key, "seen": now}
        return self._write_soon(started, Queued("caller_seen", seen, fields))

    def record_event(
        self, call_sid: str, event: str, node: str, part: int, detail: str | None = None
    ) -> bool:
        """Append one step of the caller's journey; digits that could be a phone number are masked.

        With batch_events on, the event is queued (True) and written with others shortly after.
        """
        row = {
            "call_sid": fit(JourneyEvent.call_sid, call_sid),
            "at": utc_now(),
            "event": fit(JourneyEvent.event, event),
            "node": fit(JourneyEvent.node, node),
            "part": part,
            "detail": fit(JourneyEvent.detail, mask(detail) if detail else None),
        }
        return self._write_soon(Queued("record_event", row))

    def call_ended(self, call_sid: str, status: str, duration_seconds: int | None) -> bool:
        """Record how a call ended (the call row is made if its start was lost).

        For final statuses only (ivr.phone.views.FINAL_STATUSES): this marks the call ended."""
        fields = {"call_sid": call_sid, "status": status, "duration_seconds": duration_seconds}

        def work(conn: Connection) -> bool:
            ended = utc_now()
            values = {
                "ended_at": ended,
                "duration_seconds": duration_seconds,
                "status": fit(Call.status, status),
            }
            started = ended - timedelta(seconds=duration_seconds or 0)
            stmt = insert_for(conn, Call).values(
                call_sid=fit(Call.call_sid, call_sid), started_at=started, **values
            )
            conn.execute(stmt.on_conflict_do_update(index_elements=["call_sid"], set_=values))
            return True

        return self._write("call_ended", fields, work, False)

    def has_ended(self, call_sid: str) -> bool:
        """Whether a final status has been recorded for the call (False when unknown, or no database)."""

        def work(conn: Connection) -> bool:
            stmt = select(Call.ended_at).where(Call.call_sid == call_sid)
            return conn.execute(stmt).scalar_one_or_none() is not None

        return self._read("has_ended", {"call_sid": call_sid}, work, False)

    def get_call(self, call_sid: str) -> CallRow | None:
        """One call, or None."""

        def work(conn: Connection) -> CallRow | None:
            row = conn.execute(select(*columns(Call)).where(Call.call_sid == call_sid)).first()
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
            rows = conn.execute(select(*cols).where(JourneyEvent.call_sid == call_sid).order_by(*IN_ORDER))
            return [EventRow(**row._mapping) for row in rows]

        return self._read("events_for", {"call_sid": call_sid}, work, [])

    def transfer_taken(self, call_sid: str, taken: str, transfers: tuple[str, ...]) -> bool | None:
        """Whether the call's journey has a `taken` event after its latest transfer (an event
        starting with one of `transfers`); None when the database cannot say (an outage)."""

        def work(conn: Connection) -> bool:
            rows = conn.execute(
                select(JourneyEvent.event).where(JourneyEvent.call_sid == call_sid).order_by(*IN_ORDER)
            )
            since = False
            for (event,) in rows:
                if event.startswith(transfers):
                    since = False
                elif event == taken:
                    since = True
            return since

        return self._read("transfer_taken", {"call_sid": call_sid}, work, None)

    # For the staff pages and the queues: calls live, ended, waiting.

    def live_calls(self, window: timedelta = LIVE_WINDOW, limit: int = 100) -> list[CallRow]:
        """Calls that have not ended and started within the window, newest first."""

        def work(conn: Connection) -> list[CallRow]:
            stmt = (
                select(*columns(Call))
                .where(Call.ended_at.is_(None), Call.started_at >= utc_now() - window)
                .order_by(Call.started_at.desc(), Call.call_sid)
                .limit(limit)
            )
            return [CallRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("live_calls", {}, work, [])

    def oldest_waiting(self, event: str, window: timedelta = LIVE_WINDOW) -> str | None:
        """The call that has waited longest with `event` as its latest journey event (e.g. in a queue)."""

        def work(conn: Connection) -> str | None:
            latest = latest_events(JourneyEvent.at >= utc_now() - window)
            stmt = (
                select(JourneyEvent.call_sid)
                .join(latest, JourneyEvent.id == latest.c.id)
                .where(JourneyEvent.event == event)
                .order_by(*IN_ORDER)
                .limit(1)
            )
            return conn.execute(stmt).scalar_one_or_none()

        return self._read("oldest_waiting", {"event": event}, work, None)

    def ended_calls(self, limit: int = 50) -> list[CallRow]:
        """The most recent calls that have ended, newest first."""

        def work(conn: Connection) -> list[CallRow]:
            stmt = (
                select(*columns(Call))
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
            stmt = select(*cols).where(JourneyEvent.call_sid.in_(wanted)).order_by(*IN_ORDER)
            for row in conn.execute(stmt):
                found[row.call_sid].append(EventRow(row.at, row.event, row.node, row.part, row.detail))
            return found

        return self._read("events_for_calls", {"calls": len(wanted)}, work, {})


def _caller_row(caller_hash: str) -> dict[str, Any] | None:
    """The parameters of an update of a consented caller's row (ivr.store.batch), seen now, to add
    choices or a place to; None for anything that is not a pseudonym (a number is never kept)."""
    key = pseudonym(caller_hash)
    if key is None:
        return None
    return {"who": key, "seen": utc_now()}


def _utc(value: object) -> datetime | None:
    """A time read past SQLAlchemy (the raw fast path): PostgreSQL gives it aware, SQLite as the text
    SQLAlchemy stored (UTC, without a zone)."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
