"""The SMS outbox: every text to a caller is kept here first, then claimed, sent, retried or failed.

A text is queued once per call and topic (its `once_key`), within a daily cap per caller (the
`sms_quota` table, counted atomically), and sent by whichever sender claims it first: a claim is a
conditional UPDATE, so two senders (two workers, the app and `flask sms send-outbox`) never send the
same row. A claimed row that is never marked sent or failed (its sender died mid-send) is failed,
not sent again: a text goes out at most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ivr.store.batch import Batched
from ivr.store.core import fit, insert_for, utc_now
from ivr.store.models import SmsOutbox, SmsQuota
from ivr.store.privacy import mask, pseudonym

CAPPED = "capped"  # TextQueued.status when the caller's daily cap was reached: nothing queued


@dataclass(frozen=True, slots=True)
class TextQueued:
    """What queueing a text did: its row and status ("queued", "sent", "failed"; or CAPPED, with
    no row), and whether this request made it (False: it was there already, or capped)."""

    id: int | None
    status: str
    new: bool


@dataclass(frozen=True, slots=True)
class DueText:
    """A queued text a sender may claim: where to, what, and how many tries it has had."""

    id: int
    call_sid: str | None
    to_number: str
    body: str
    attempts: int


class Outbox(Batched):
    """Texts queued by ivr.phone.texts.SmsSender, and what became of each."""

    def queue_sms(self, call_sid: str | None, to_number: str, body: str) -> int | None:
        """Put a text in the outbox, with no once-key nor cap; its id, or None if it could not be saved."""
        queued = self.queue_text(call_sid, to_number, body)
        return queued.id if queued is not None else None

    def queue_text(
        self,
        call_sid: str | None,
        to_number: str,
        body: str,
        *,
        once_key: str | None = None,
        caller_hash: str | None = None,
        daily_limit: int | None = None,
        now: datetime | None = None,
    ) -> TextQueued | None:
        """Put a text in the outbox, once per `once_key` and within `daily_limit` texts per caller
        (by pseudonym) and UTC day of `now`; None if the database failed.

        A text already queued under `once_key` is given back as it is (new=False) and counts nothing
        again; one over the cap is not queued (status CAPPED).
        """
        at = now or utc_now()
        key = pseudonym(caller_hash) if caller_hash else None
        fields = {"call_sid": call_sid, "chars": len(body)}
        once = fit(SmsOutbox.once_key, once_key)
        row: dict[str, Any] = {
            "call_sid": fit(SmsOutbox.call_sid, call_sid),
            "to_number": fit(SmsOutbox.to_number, to_number.strip()),
            "body": body,
            "status": "queued",
            "created_at": at,
            "once_key": once,
            "attempts": 0,
        }

        def work(conn: Connection) -> TextQueued:
            there = _queued(conn, once)
            if there is not None:
                return there
            capped = key is not None and daily_limit is not None
            if capped and not _take_quota(conn, key, at, daily_limit):  # type: ignore[arg-type]
                # A twin request may have taken the last one, and is committed by now.
                return _queued(conn, once) or TextQueued(None, CAPPED, False)
            stmt = insert_for(conn, SmsOutbox).values(row).on_conflict_do_nothing().returning(SmsOutbox.id)
            made = conn.execute(stmt).scalar_one_or_none()
            if made is not None:
                return TextQueued(int(made), "queued", True)
            if capped:  # a twin request queued it meanwhile: this one counts for nothing
                _give_back_quota(conn, key, at)  # type: ignore[arg-type]
            found = _queued(conn, once)
            assert found is not None  # the conflict was on once_key, the only unique column given
            return found

        return self._write("queue_sms", fields, work, None)

    def sms_sent(self, sms_id: int, twilio_sid: str) -> bool:
        """Mark a queued message sent, with Twilio's message SID."""
        values = {
            "status": "sent",
            "twilio_sid": fit(SmsOutbox.twilio_sid, twilio_sid),
            "sent_at": utc_now(),
            "claimed_at": None,
            "error": None,
        }
        return self._sms_outcome("sms_sent", sms_id, values)

    def sms_failed(self, sms_id: int, error: str) -> bool:
        """Mark a queued message failed for good, with the reason (numbers in it masked)."""
        values = {"status": "failed", "error": fit(SmsOutbox.error, mask(error)), "claimed_at": None}
        return self._sms_outcome("sms_failed", sms_id, values)

    def sms_retry(self, sms_id: int, error: str, at: datetime) -> bool:
        """Put a claimed message back in the queue, to be tried again from `at` (the reason kept)."""
        values = {"error": fit(SmsOutbox.error, mask(error)), "claimed_at": None, "next_attempt_at": at}
        return self._sms_outcome("sms_retry", sms_id, values)

    def claim_sms(self, sms_id: int, now: datetime | None = None) -> bool:
        """Claim a queued, unclaimed message for sending (its attempts counted); False if another
        sender has it, or it is no longer queued. Only the claimant may send it."""

        def work(conn: Connection) -> bool:
            stmt = (
                update(SmsOutbox)
                .where(SmsOutbox.id == sms_id, SmsOutbox.status == "queued", SmsOutbox.claimed_at.is_(None))
                .values(claimed_at=now or utc_now(), attempts=SmsOutbox.attempts + 1)
            )
            return conn.execute(stmt).rowcount == 1

        return self._write("claim_sms", {"sms_id": sms_id}, work, False)

    def sms_state(self, sms_id: int) -> tuple[str, bool, int] | None:
        """A text's status, whether a sender has it claimed now, and how many tries it has had;
        None if unknown (or no database)."""

        def work(conn: Connection) -> tuple[str, bool, int] | None:
            stmt = select(SmsOutbox.status, SmsOutbox.claimed_at, SmsOutbox.attempts).where(
                SmsOutbox.id == sms_id
            )
            row = conn.execute(stmt).first()
            if row is None:
                return None
            return str(row.status), row.claimed_at is not None, int(row.attempts or 0)

        return self._read("sms_state", {"sms_id": sms_id}, work, None)

    def due_sms(self, now: datetime | None = None, limit: int = 50) -> list[DueText]:
        """Queued, unclaimed messages whose next try is due, oldest first."""
        at = now or utc_now()

        def work(conn: Connection) -> list[DueText]:
            stmt = (
                select(
                    SmsOutbox.id,
                    SmsOutbox.call_sid,
                    SmsOutbox.to_number,
                    SmsOutbox.body,
                    SmsOutbox.attempts,
                )
                .where(
                    SmsOutbox.status == "queued",
                    SmsOutbox.claimed_at.is_(None),
                    (SmsOutbox.next_attempt_at.is_(None)) | (SmsOutbox.next_attempt_at <= at),
                )
                .order_by(SmsOutbox.id)
                .limit(limit)
            )
            return [DueText(**row._mapping) for row in conn.execute(stmt)]

        return self._read("due_sms", {}, work, [])

    def sms_abandoned(self, claimed_before: datetime) -> int:
        """Fail the messages claimed before `claimed_before` and never marked (their sender died,
        perhaps after Twilio took them): not sent again, so that none goes out twice. How many."""
        why = "its sender stopped while sending it: it may have gone out, so it is not sent again"

        def work(conn: Connection) -> int:
            stmt = (
                update(SmsOutbox)
                .where(
                    SmsOutbox.status == "queued",
                    SmsOutbox.claimed_at.is_not(None),
                    SmsOutbox.claimed_at < claimed_before,
                )
                .values(status="failed", error=why, claimed_at=None)
            )
            return int(conn.execute(stmt).rowcount)

        return self._write("sms_abandoned", {}, work, 0)

    def prune_sms_quota(self, now: datetime | None = None) -> int:
        """Forget the daily counts of days before yesterday (UTC); how many were dropped."""
        oldest = _day(now or utc_now(), -1)

        def work(conn: Connection) -> int:
            return int(conn.execute(delete(SmsQuota).where(SmsQuota.day < oldest)).rowcount)

        return self._write("prune_sms_quota", {}, work, 0)

    def _sms_outcome(self, what: str, sms_id: int, values: dict[str, Any]) -> bool:
        def work(conn: Connection) -> bool:
            stmt = (
                update(SmsOutbox).where(SmsOutbox.id == sms_id, SmsOutbox.status == "queued").values(values)
            )
            return conn.execute(stmt).rowcount == 1

        return self._write(what, {"sms_id": sms_id, "status": values.get("status", "queued")}, work, False)


def _day(at: datetime, offset: int = 0) -> str:
    """The UTC day of `at` (plus `offset` days) as YYYY-MM-DD: the key of the daily cap."""
    return (at.astimezone(UTC) + timedelta(days=offset)).date().isoformat()


def _queued(conn: Connection, once_key: str | None) -> TextQueued | None:
    if once_key is None:
        return None
    row = conn.execute(select(SmsOutbox.id, SmsOutbox.status).where(SmsOutbox.once_key == once_key)).first()
    return TextQueued(int(row.id), str(row.status), False) if row is not None else None


def _take_quota(conn: Connection, key: str, at: datetime, limit: int) -> bool:
    """Count one more text for the caller today, unless that would pass `limit`: in one statement,
    so that concurrent requests (two workers) never both take the last one."""
    insert = insert_for(conn, SmsQuota).values(caller_hash=key, day=_day(at), texts=1)
    stmt = insert.on_conflict_do_update(
        index_elements=["caller_hash", "day"],
        set_={"texts": SmsQuota.texts + 1},
        where=SmsQuota.texts < limit,
    ).returning(SmsQuota.texts)
    return limit >= 1 and conn.execute(stmt).scalar_one_or_none() is not None


def _give_back_quota(conn: Connection, key: str, at: datetime) -> None:
    conn.execute(
        update(SmsQuota)
        .where(SmsQuota.caller_hash == key, SmsQuota.day == _day(at))
        .values(texts=SmsQuota.texts - 1)
    )
