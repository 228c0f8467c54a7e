"""Retention: each kind of personal data kept no longer than its period (README, Personal data).

`purge_expired` enforces the periods of `Periods` (the IVR_RETAIN_* settings) in one transaction:
idempotent (a second run finds nothing), and safe with two servers running it at once (each
statement deletes what is past its period when it runs; what one deleted the other does not find).
Recordings are only marked here: their audio is deleted at Twilio by ivr.phone.erasure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, func, or_, update

from ivr.store.core import StoreCore
from ivr.store.models import Callback, KnownCaller, Recording, SmsOutbox


@dataclass(frozen=True, slots=True)
class Periods:
    """How long each kind is kept: `callback` a call back's number after it was done (one never
    done: after it was asked for), `recording` a recorded question after it was made, `prefs` a
    remembered caller after their last call, `text` a text's number after it was sent or failed."""

    callback: timedelta = timedelta(days=30)
    recording: timedelta = timedelta(days=90)
    prefs: timedelta = timedelta(days=365)
    text: timedelta = timedelta(days=7)

    @classmethod
    def of_days(cls, callback: int, recording: int, prefs: int, text: int) -> Periods:
        """Periods from the settings' days."""
        return cls(
            timedelta(days=callback), timedelta(days=recording), timedelta(days=prefs), timedelta(days=text)
        )


class Retention(StoreCore):
    """The purge of what is past its retention period."""

    def purge_expired(self, now: datetime, periods: Periods) -> dict[str, int] | None:
        """Delete what `periods` no longer allow as of `now` (an aware datetime): rows per kind,
        {"callbacks", "recordings_marked", "callers", "texts"}; None when the database failed."""

        def work(conn: Connection) -> dict[str, int]:
            past = now - periods.callback
            callbacks = delete(Callback).where(
                or_(Callback.done_at < past, and_(Callback.done_at.is_(None), Callback.requested_at < past))
            )
            recordings = (
                update(Recording)
                .where(Recording.erase_requested_at.is_(None), Recording.created_at < now - periods.recording)
                .values(erase_requested_at=now)
            )
            texts = delete(SmsOutbox).where(
                SmsOutbox.status != "queued",
                func.coalesce(SmsOutbox.sent_at, SmsOutbox.created_at) < now - periods.text,
            )
            return {
                "callbacks": conn.execute(callbacks).rowcount,
                "recordings_marked": conn.execute(recordings).rowcount,
                "callers": conn.execute(
                    delete(KnownCaller).where(KnownCaller.last_seen < now - periods.prefs)
                ).rowcount,
                "texts": conn.execute(texts).rowcount,
            }

        return self._write("purge_expired", {}, work, None)
