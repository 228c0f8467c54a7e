"""Missed calls and their free call-backs: queued once per missed call, claimed before each try,
every try and its outcome kept, the number purged once the call-back is done and NUMBER_KEPT more.

A missed call is queued in one transaction that first looks at the caller's other call-backs and
the line's (under one lock for the line on PostgreSQL; SQLite's write lock is taken at BEGIN): a
call-back still pending takes it (nothing added), as do the 10-minute window, the line-wide hourly
cap and the caller's daily cap. A try is
claimed by a conditional UPDATE, so two senders never call one number twice for one missed call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, case, delete, func, or_, select, text, update

from ivr.store.batch import Batched
from ivr.store.core import columns, fit, insert_for
from ivr.store.db import is_sqlite
from ivr.store.models import MissedCall
from ivr.store.privacy import mask, pseudonym, ref

PENDING = ("queued", "retry", "calling")  # a call-back still to come
DUE = ("queued", "retry")  # waiting for a try
NUMBER_KEPT = timedelta(days=7)  # a number is kept this long after its call-back is done
ROW_KEPT = timedelta(days=30)  # the record of a missed call (no number by then) is kept this long
STALE_CLAIM = timedelta(minutes=10)  # a claim this old lost its sender (placing a call takes seconds)
STATUS_WAIT = timedelta(hours=1)  # a call placed with no outcome by then is given up
EARLY = "early:"  # marks an outcome Twilio told before its call was recorded as placed
LINE_HOUR = timedelta(hours=1)  # the line-wide cap counts the call-backs queued in this time
# The PostgreSQL advisory lock under which missed calls are queued, one at a time for the whole
# line (the line-wide cap counts every caller's): a constant key, "missed" in ASCII.
QUEUE_LOCK = int.from_bytes(b"missed", "big")


@dataclass(frozen=True, slots=True)
class MissedQueued:
    """What a missed call did: `outcome` is "queued" (a call-back is coming), "pending" (one was
    already coming: nothing added; also a redelivered webhook), "recent" (one was queued, or its
    last call ended, in the last minutes: nothing added), or "capped" (the daily cap: recorded,
    never called)."""

    id: int | None
    outcome: str


@dataclass(frozen=True, slots=True)
class DueCallback:
    """A call-back a sender may claim: who to call, from which of the line's numbers, tries so far."""

    id: int
    to_number: str
    line_number: str
    attempts: int


@dataclass(frozen=True, slots=True)
class MissedRow:
    """A missed call and its call-back, as staff see it (the number, while kept, masked by the page)."""

    id: int
    call_sid: str
    caller_hash: str
    to_number: str | None
    line_number: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    claimed_at: datetime | None
    done_at: datetime | None
    outbound_sid: str | None
    outcome: str | None
    note: str | None


class MissedCalls(Batched):
    """The missed_calls table: queued by ivr.phone.missed, placed and followed by its CallBacks."""

    def queue_missed(
        self,
        call_sid: str,
        caller_hash: str,
        to_number: str,
        line_number: str,
        *,
        now: datetime,
        due: datetime,
        recent_since: datetime,
        day_start: datetime,
        daily_limit: int,
        line_limit: int | None = None,
        note: str | None = None,
    ) -> MissedQueued | None:
        """Queue a call-back to `to_number` from `line_number`, due at `due`, for the missed call
        `call_sid`, unless one is pending, one was queued or ended (its last call) since
        `recent_since`, the whole line has queued `line_limit` in the LINE_HOUR before `now`
        ("line capped": nothing recorded), or the caller has had `daily_limit` since `day_start`
        (recorded as capped). None if the database failed."""
        key = pseudonym(caller_hash)
        if key is None:
            return None
        row: dict[str, Any] = {
            "call_sid": fit(MissedCall.call_sid, call_sid),
            "caller_hash": key,
            "to_number": fit(MissedCall.to_number, to_number),
            "line_number": fit(MissedCall.line_number, line_number),
            "state": "queued",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": due,
            "note": fit(MissedCall.note, note),
        }

        def work(conn: Connection) -> MissedQueued:
            if not is_sqlite(conn):  # the line's missed calls are decided one at a time
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": QUEUE_LOCK})
            again = conn.execute(select(MissedCall.id).where(MissedCall.call_sid == row["call_sid"])).first()
            if again is not None:
                return MissedQueued(int(again.id), "pending")
            mine = select(MissedCall.id).where(MissedCall.caller_hash == key, MissedCall.state != "capped")
            pending = conn.execute(mine.where(MissedCall.state.in_(PENDING))).first()
            if pending is not None:
                return MissedQueued(int(pending.id), "pending")
            # Since the last missed call that was taken, or the last call-back's end (answered, given
            # up, failed): a call-back held through the quiet hours ends long after its missed call.
            lately = or_(MissedCall.created_at >= recent_since, MissedCall.done_at >= recent_since)
            if conn.execute(mine.where(lately)).first() is not None:
                return MissedQueued(None, "recent")
            if line_limit is not None:
                taken = select(MissedCall.id).where(
                    MissedCall.state != "capped", MissedCall.created_at > now - LINE_HOUR
                )
                if _count(conn, taken.limit(line_limit)) >= line_limit:
                    return MissedQueued(None, "line capped")
            today = _count(conn, mine.where(MissedCall.created_at >= day_start))
            if today >= daily_limit:
                capped = {
                    **row,
                    "state": "capped",
                    "to_number": None,
                    "next_attempt_at": None,
                    "done_at": now,
                }
                made = conn.execute(insert_for(conn, MissedCall).values(capped).returning(MissedCall.id))
                return MissedQueued(int(made.scalar_one()), "capped")
            made = conn.execute(insert_for(conn, MissedCall).values(row).returning(MissedCall.id))
            return MissedQueued(int(made.scalar_one()), "queued")

        return self._write("queue_missed", {"call_sid": call_sid, "caller": ref(key)}, work, None)

    def due_missed(self, now: datetime, limit: int = 50) -> list[DueCallback]:
        """Call-backs waiting for a try that is due, in the order they are due (then came)."""

        def work(conn: Connection) -> list[DueCallback]:
            stmt = (
                select(MissedCall.id, MissedCall.to_number, MissedCall.line_number, MissedCall.attempts)
                .where(
                    MissedCall.state.in_(DUE),
                    MissedCall.claimed_at.is_(None),
                    MissedCall.to_number.is_not(None),
                    MissedCall.next_attempt_at <= now,
                )
                .order_by(MissedCall.next_attempt_at, MissedCall.id)
                .limit(limit)
            )
            return [DueCallback(**r._mapping) for r in conn.execute(stmt)]

        return self._read("due_missed", {}, work, [])

    def claim_missed(self, missed_id: int, now: datetime) -> bool:
        """Claim a due call-back for one try (counted); False if another sender has it or it is not due."""
        stmt = (
            update(MissedCall)
            .where(MissedCall.id == missed_id, MissedCall.state.in_(DUE), MissedCall.claimed_at.is_(None))
            .values(claimed_at=now, attempts=MissedCall.attempts + 1)
        )
        return self._write("claim_missed", {"id": missed_id}, lambda c: c.execute(stmt).rowcount == 1, False)

    def missed_early(self, missed_id: int, outbound_sid: str, outcome: str) -> bool:
        """Twilio told the outcome of the call `outbound_sid` (answered, busy, a machine...) while
        its try is still claimed, before calls.create answered: kept with the try (the CallSid, and
        the outcome marked EARLY) for `missed_placed` to hand back. Only the first for a try, and
        never for the try before's call (its CallSid is still the row's until this one's is known).
        False when the try is not claimed (recorded as placed meanwhile) or that was so."""
        sid = fit(MissedCall.outbound_sid, outbound_sid)
        stmt = (
            update(MissedCall)
            .where(
                MissedCall.id == missed_id,
                MissedCall.state.in_(DUE),
                MissedCall.claimed_at.is_not(None),
                MissedCall.outbound_sid.is_distinct_from(sid),
                or_(MissedCall.outcome.is_(None), MissedCall.outcome.not_like(f"{EARLY}%")),
            )
            .values(outbound_sid=sid, outcome=fit(MissedCall.outcome, EARLY + outcome))
        )
        return self._write("missed_early", {"id": missed_id}, lambda c: c.execute(stmt).rowcount == 1, False)

    def missed_placed(self, missed_id: int, outbound_sid: str, now: datetime) -> str | None:
        """A claimed try was taken by Twilio: the call-back rings (its CallSid kept), until its
        outcome. That outcome when Twilio told it already (`missed_early`), else None."""
        sid = fit(MissedCall.outbound_sid, outbound_sid)
        told = and_(MissedCall.outbound_sid == sid, MissedCall.outcome.like(f"{EARLY}%"))
        values = {
            "state": "calling",
            "outbound_sid": sid,
            "claimed_at": None,
            "next_attempt_at": now + STATUS_WAIT,
            "outcome": case((told, func.substr(MissedCall.outcome, len(EARLY) + 1)), else_=None),
        }
        if not self._move("missed_placed", missed_id, None, values, claimed=True):
            return None
        row = self.missed_call(missed_id)
        return row.outcome if row is not None and row.state == "calling" and row.outbound_sid == sid else None

    def missed_retry(
        self, missed_id: int, outcome: str, at: datetime, *, outbound_sid: str | None = None, note: str = ""
    ) -> bool:
        """Back in the queue for another try from `at`: after a try placed as `outbound_sid` (its
        outcome: machine, no-answer, busy...), or after a claimed try Twilio did not take."""
        values = {"state": "retry", "outcome": outcome, "next_attempt_at": at, "claimed_at": None}
        values["note"] = fit(MissedCall.note, mask(note)) if note else None
        return self._move("missed_retry", missed_id, outbound_sid, values, claimed=outbound_sid is None)

    def missed_done(
        self,
        missed_id: int,
        state: str,
        outcome: str,
        now: datetime,
        *,
        outbound_sid: str | None = None,
        note: str = "",
    ) -> bool:
        """The call-back is over (answered, given-up, failed): after the try placed as
        `outbound_sid`, or after a claimed try (`outbound_sid` None). False if it was not there."""
        values = {
            "state": state,
            "outcome": outcome,
            "done_at": now,
            "next_attempt_at": None,
            "claimed_at": None,
        }
        if note:
            values["note"] = fit(MissedCall.note, mask(note))
        return self._move("missed_done", missed_id, outbound_sid, values, claimed=outbound_sid is None)

    def missed_call(self, missed_id: int) -> MissedRow | None:
        """One missed call and its call-back; None if unknown (or no database)."""

        def work(conn: Connection) -> MissedRow | None:
            found = conn.execute(select(*columns(MissedCall)).where(MissedCall.id == missed_id)).first()
            return MissedRow(**found._mapping) if found is not None else None

        return self._read("missed_call", {"id": missed_id}, work, None)

    def missed_calls(self, limit: int = 100) -> list[MissedRow]:
        """The latest missed calls, newest first, for the staff page."""

        def work(conn: Connection) -> list[MissedRow]:
            stmt = select(*columns(MissedCall)).order_by(MissedCall.id.desc()).limit(limit)
            return [MissedRow(**r._mapping) for r in conn.execute(stmt)]

        return self._read("missed_calls", {}, work, [])

    def missed_hold(self, missed_id: int, at: datetime, note: str) -> bool:
        """A due call-back not claimed by any sender waits till `at` (the end of the quiet hours
        where it would ring), saying why; False if it was claimed or moved on meanwhile."""
        stmt = (
            update(MissedCall)
            .where(MissedCall.id == missed_id, MissedCall.state.in_(DUE), MissedCall.claimed_at.is_(None))
            .values(next_attempt_at=at, note=fit(MissedCall.note, note))
        )
        return self._write("missed_hold", {"id": missed_id}, lambda c: c.execute(stmt).rowcount == 1, False)

    def missed_note(self, missed_id: int, note: str) -> bool:
        """Say why a call-back waits (no Twilio credentials, quiet hours), for staff."""
        stmt = update(MissedCall).where(MissedCall.id == missed_id).values(note=fit(MissedCall.note, note))
        return self._write("missed_note", {"id": missed_id}, lambda c: c.execute(stmt).rowcount == 1, False)

    def tidy_missed(self, now: datetime) -> dict[str, int]:
        """Housekeeping, each step counted: a try whose sender died mid-placing is failed (it may
        have rung: never placed twice); a call placed with no outcome in STATUS_WAIT is given up;
        numbers are purged NUMBER_KEPT after their call-back was done; rows go after ROW_KEPT."""

        def work(conn: Connection) -> dict[str, int]:
            stale = update(MissedCall).where(
                MissedCall.state.in_(DUE), MissedCall.claimed_at < now - STALE_CLAIM
            )
            silent = update(MissedCall).where(MissedCall.state == "calling", MissedCall.next_attempt_at < now)
            ended = {"done_at": now, "next_attempt_at": None, "claimed_at": None}
            why = "its sender stopped while placing it: it may have rung, so it is not placed again"
            return {
                "abandoned": conn.execute(stale.values(state="failed", note=why, **ended)).rowcount,
                "silent": conn.execute(
                    silent.values(state="given-up", note="no outcome from Twilio", **ended)
                ).rowcount,
                "purged": conn.execute(
                    update(MissedCall)
                    .where(MissedCall.to_number.is_not(None), MissedCall.done_at < now - NUMBER_KEPT)
                    .values(to_number=None)
                ).rowcount,
                "deleted": conn.execute(
                    delete(MissedCall).where(MissedCall.created_at < now - ROW_KEPT)
                ).rowcount,
            }

        return self._write("tidy_missed", {}, work, {})

    def _move(
        self, what: str, missed_id: int, outbound_sid: str | None, values: dict[str, Any], *, claimed: bool
    ) -> bool:
        """Move a call-back on from a claimed try (`claimed`) or from the call placed as `outbound_sid`
        (state calling): once, so that a redelivered or late callback moves nothing."""
        stmt = update(MissedCall).where(MissedCall.id == missed_id)
        if claimed:
            stmt = stmt.where(MissedCall.state.in_(DUE), MissedCall.claimed_at.is_not(None))
        else:
            stmt = stmt.where(MissedCall.state == "calling", MissedCall.outbound_sid == outbound_sid)
        fields = {"id": missed_id, "state": values.get("state")}
        return self._write(what, fields, lambda c: c.execute(stmt.values(values)).rowcount == 1, False)


def _count(conn: Connection, rows: Select[Any]) -> int:
    """How many rows a SELECT finds."""
    return int(conn.execute(select(func.count()).select_from(rows.subquery())).scalar_one())
