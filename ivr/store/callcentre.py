"""Call-centre work: callbacks callers asked for and questions they recorded, kept until staff act."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import InstrumentedAttribute

from ivr.store.batch import Batched
from ivr.store.core import columns, fit, utc_now
from ivr.store.models import Callback, Recording
from ivr.store.privacy import pseudonym, ref

R = TypeVar("R")


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
    once_key: str | None = None  # "CallSid specialty": what makes it one per call and specialty


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
    recording_sid: str | None = None  # Twilio's RecordingSid (None for recordings kept before it was)
    erase_requested_at: datetime | None = None  # marked for deletion (never listed then)
    erase_claimed_at: datetime | None = None  # being deleted by one process now


class CallCentre(Batched):
    """Callbacks and recorded questions: saved during a call, listed and closed on the staff pages."""

    def add_callback(
        self,
        call_sid: str,
        caller_hash: str | None,
        callback_number: str,
        *,
        specialty: str | None = None,
        language: str | None = None,
    ) -> int | None:
        """Queue a callback for staff; its id, or None if it could not be saved.

        Once per call and specialty: asked again (a redelivered webhook, two at once), it gives the
        id of the call back already queued and adds nothing."""
        key = pseudonym(caller_hash) if caller_hash else None
        # The number itself never reaches the log: Twilio's log of this call_sid has it.
        fields = {"call_sid": call_sid, "caller": ref(key), "specialty": specialty, "language": language}

        def row() -> dict[str, Any]:
            return {
                "call_sid": fit(Callback.call_sid, call_sid),
                "caller_hash": key,
                "callback_number": fit(Callback.callback_number, callback_number.strip()),
                "specialty": fit(Callback.specialty, specialty),
                "language": fit(Callback.language, language),
                "requested_at": utc_now(),
                # One call back per call and specialty: a redelivered request finds this row.
                "once_key": fit(Callback.once_key, f"{call_sid} {specialty or ''}"),
            }

        return self._added_once("add_callback", fields, Callback, row, "once_key")

    def callbacks(self, *, open_only: bool = True, limit: int = 100) -> list[CallbackRow]:
        """Callback requests, oldest first (open ones only, or every one)."""
        return self._listed("callbacks", _CALLBACKS, CallbackRow, waiting_only=open_only, limit=limit)

    def callback_done(self, callback_id: int, done_by: str) -> bool:
        """Mark a callback done; False if it was already done or does not exist."""
        fields = {"callback_id": callback_id, "done_by": done_by}
        return self._dealt_with("callback_done", fields, _CALLBACKS, callback_id, done_by)

    def add_recording(
        self,
        call_sid: str,
        recording_url: str,
        *,
        duration_seconds: int | None = None,
        specialty: str | None = None,
        recording_sid: str | None = None,
    ) -> int | None:
        """Keep a recorded message for review; its id, or None if it could not be saved.

        Once per recording: the RecordingSid (else the last part of its URL, which is the SID) keys
        it, so a redelivered action gives the id already kept and adds nothing."""
        fields = {"call_sid": call_sid, "recording_url": recording_url, "specialty": specialty}
        sid = recording_sid or recording_url.rstrip("/").rsplit("/", 1)[-1]

        def row() -> dict[str, Any]:
            return {
                "call_sid": fit(Recording.call_sid, call_sid),
                "recording_url": fit(Recording.recording_url, recording_url),
                "duration_seconds": duration_seconds,
                "specialty": fit(Recording.specialty, specialty),
                "created_at": utc_now(),
                "recording_sid": fit(Recording.recording_sid, sid),
            }

        return self._added_once("add_recording", fields, Recording, row, "recording_sid")

    def recordings(self, *, unreviewed_only: bool = True, limit: int = 100) -> list[RecordingRow]:
        """Recorded messages, oldest first."""
        return self._listed(
            "recordings", _RECORDINGS, RecordingRow, waiting_only=unreviewed_only, limit=limit
        )

    def recording(self, recording_id: int) -> RecordingRow | None:
        """One recorded message by id, or None (none such, or the database could not be read)."""

        def work(conn: Connection) -> RecordingRow | None:
            row = conn.execute(select(*columns(Recording)).where(Recording.id == recording_id)).first()
            return RecordingRow(**row._mapping) if row else None

        return self._read("recording", {"recording_id": recording_id}, work, None)

    def recording_reviewed(self, recording_id: int, reviewed_by: str) -> bool:
        """Mark a recorded message reviewed by a staff user; False if it already was or does not exist."""
        fields = {"recording_id": recording_id, "reviewed_by": reviewed_by}
        return self._dealt_with("recording_reviewed", fields, _RECORDINGS, recording_id, reviewed_by)

    # Callbacks and recordings alike wait until a staff user deals with them, once: one pair of
    # queries serves both, told which columns say when and by whom.

    def _listed(
        self, what: str, kind: _Work, make: Callable[..., R], *, waiting_only: bool, limit: int
    ) -> list[R]:
        def work(conn: Connection) -> list[R]:
            stmt = select(*columns(kind.model)).order_by(kind.model.id).limit(limit)
            if waiting_only:
                stmt = stmt.where(kind.dealt_at.is_(None))
            if kind.model is Recording:  # one to be deleted (an erasure, its retention) is gone for staff
                stmt = stmt.where(Recording.erase_requested_at.is_(None))
            return [make(**row._mapping) for row in conn.execute(stmt)]

        return self._read(what, {}, work, [])

    def _dealt_with(self, what: str, fields: dict[str, object], kind: _Work, item_id: int, by: str) -> bool:
        def work(conn: Connection) -> bool:
            stmt = (
                update(kind.model)
                .where(kind.model.id == item_id, kind.dealt_at.is_(None))
                .values({kind.dealt_at.key: utc_now(), kind.dealt_by.key: fit(kind.dealt_by, by)})
            )
            return conn.execute(stmt).rowcount == 1

        return self._write(what, fields, work, False)


@dataclass(frozen=True, slots=True)
class _Work:
    """One kind of call-centre work: its table, and the columns saying when and by whom it was dealt with."""

    model: type[Callback] | type[Recording]
    dealt_at: InstrumentedAttribute[datetime | None]
    dealt_by: InstrumentedAttribute[str | None]


_CALLBACKS = _Work(Callback, Callback.done_at, Callback.done_by)
_RECORDINGS = _Work(Recording, Recording.reviewed_at, Recording.reviewed_by)
