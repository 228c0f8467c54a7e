"""Erasure: everything the line holds about one caller's number, deleted in one transaction; and
the recordings marked for deletion, claimed one process at a time until their audio is gone.

A caller is their pseudonym (every spelling of a number gives the same one, ivr.phone.callers)
and, where a number is kept in clear (call-backs, missed calls, texts), the number in E.164.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, false, or_, select, update

from ivr.store.core import StoreCore, utc_now
from ivr.store.models import Call, Callback, KnownCaller, MissedCall, Recording, SmsOutbox, SmsQuota
from ivr.store.privacy import pseudonym, ref

log = logging.getLogger("ivr.store")
# A recording claimed for deletion longer ago than this lost its deleter (a request takes seconds):
# another may try. Twilio answers 404 for audio already deleted, which counts as deleted.
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Erased:
    """What erasing a caller removed, in rows of each kind.

    `callers`: their remembered language, speed, place and consent (0 or 1); `callbacks`: call-back
    requests, open or done, with the number; `missed_calls`: missed calls and the call-backs
    pending on them; `texts`: texts queued or sent to the number (the number goes with the row);
    `text_quota`: daily text counts; `recordings`: recorded questions of their calls, hidden from
    staff at once and deleted (audio at Twilio, then the row): `audio_deleted` of them now,
    `audio_pending` left for `flask data purge` to retry (Twilio unreachable, or no credentials);
    `calls_unlinked`: calls no longer under their pseudonym (the journeys stay, anonymous).
    """

    callers: int = 0
    callbacks: int = 0
    missed_calls: int = 0
    texts: int = 0
    text_quota: int = 0
    recordings: int = 0
    calls_unlinked: int = 0
    audio_deleted: int = 0
    audio_pending: int = 0


@dataclass(frozen=True, slots=True)
class RecordingToDelete:
    """A recording claimed for deletion: its row id and Twilio's RecordingSid (None: unknown)."""

    id: int
    recording_sid: str | None


class Erasure(StoreCore):
    """Erasing a caller, and deleting the recordings marked for it."""

    def erase_caller(
        self, caller_hash: str, number: str | None, now: datetime | None = None
    ) -> tuple[Erased, tuple[int, ...]] | None:
        """Delete what is kept for the caller with pseudonym `caller_hash` and, where kept in clear,
        E.164 `number` (None: withheld or not valid): the counts, and the ids of the recordings
        marked for deletion (ivr.phone.erasure deletes their audio). All or nothing: None, with
        nothing erased, when the database failed (logged) or `caller_hash` is not a pseudonym."""
        key = pseudonym(caller_hash)
        if key is None:
            return None
        at = now or utc_now()

        def numbered(column: Any) -> ColumnElement[bool]:
            return column == number if number else false()

        def work(conn: Connection) -> tuple[Erased, tuple[int, ...]]:
            theirs = select(Call.call_sid).where(Call.caller_hash == key).scalar_subquery()
            marked = conn.execute(
                update(Recording)
                .where(Recording.call_sid.in_(theirs), Recording.erase_requested_at.is_(None))
                .values(erase_requested_at=at)
                .returning(Recording.id)
            )
            ids = tuple(int(i) for i in marked.scalars())
            texts = delete(SmsOutbox).where(
                or_(SmsOutbox.call_sid.in_(theirs), numbered(SmsOutbox.to_number))
            )
            erased = Erased(
                recordings=len(ids),
                texts=conn.execute(texts).rowcount,
                callbacks=conn.execute(
                    delete(Callback).where(
                        or_(Callback.caller_hash == key, numbered(Callback.callback_number))
                    )
                ).rowcount,
                missed_calls=conn.execute(
                    delete(MissedCall).where(
                        or_(MissedCall.caller_hash == key, numbered(MissedCall.to_number))
                    )
                ).rowcount,
                text_quota=conn.execute(delete(SmsQuota).where(SmsQuota.caller_hash == key)).rowcount,
                callers=conn.execute(delete(KnownCaller).where(KnownCaller.caller_hash == key)).rowcount,
                calls_unlinked=conn.execute(
                    update(Call).where(Call.caller_hash == key).values(caller_hash=None)
                ).rowcount,
            )
            return erased, ids

        done = self._write("erase_caller", {"caller": ref(key)}, work, None)
        if done is not None:
            log.info("erased caller=%s: %s", ref(key), done[0])
        return done

    def claim_recordings(
        self, now: datetime | None = None, ids: tuple[int, ...] | None = None, limit: int = 100
    ) -> list[RecordingToDelete]:
        """Claim recordings marked for deletion (only `ids`, when given) that no other process is
        deleting now: this process alone then deletes each (at Twilio, then `recording_deleted`, or
        `recording_not_deleted` to let a later pass try again). [] when the database failed."""
        at = now or utc_now()

        def work(conn: Connection) -> list[RecordingToDelete]:
            free = or_(Recording.erase_claimed_at.is_(None), Recording.erase_claimed_at < at - STALE_CLAIM)
            stmt = select(Recording.id, Recording.recording_sid).where(
                Recording.erase_requested_at.is_not(None), free
            )
            if ids is not None:
                stmt = stmt.where(Recording.id.in_(ids))
            claimed = []
            for row in conn.execute(stmt.order_by(Recording.id).limit(limit)).all():
                took = update(Recording).where(Recording.id == row.id, free).values(erase_claimed_at=at)
                if conn.execute(took).rowcount == 1:  # not claimed by another process meanwhile
                    claimed.append(RecordingToDelete(int(row.id), row.recording_sid))
            return claimed

        return self._write("claim_recordings", {}, work, [])

    def recording_deleted(self, recording_id: int) -> bool:
        """The recording's audio is gone at Twilio: delete its row; False if the database failed
        (the claim then goes stale and another pass finds the audio gone, 404, and deletes the row)."""
        stmt = delete(Recording).where(Recording.id == recording_id)
        return self._write(
            "recording_deleted", {"id": recording_id}, lambda c: c.execute(stmt).rowcount == 1, False
        )

    def recording_not_deleted(self, recording_id: int) -> bool:
        """Twilio could not delete it now: free the claim, so that the next purge tries again."""
        stmt = update(Recording).where(Recording.id == recording_id).values(erase_claimed_at=None)
        return self._write(
            "recording_not_deleted", {"id": recording_id}, lambda c: c.execute(stmt).rowcount == 1, False
        )

    def recordings_pending(self) -> int:
        """How many recordings are marked for deletion and not yet deleted (0 when the database failed)."""
        stmt = select(Recording.id).where(Recording.erase_requested_at.is_not(None))
        return self._read("recordings_pending", {}, lambda c: len(c.execute(stmt).all()), 0)
