"""The SMS outbox: every text to a caller is kept here first, then marked sent or failed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from ivr.store.batch import Batched
from ivr.store.core import fit, utc_now
from ivr.store.models import SmsOutbox
from ivr.store.privacy import mask


class Outbox(Batched):
    """Texts queued by ivr.phone.texts.SmsSender, and what became of each."""

    def queue_sms(self, call_sid: str | None, to_number: str, body: str) -> int | None:
        """Put a text message in the outbox; its id, or None if it could not be saved."""
        fields = {"call_sid": call_sid, "chars": len(body)}

        def row() -> dict[str, Any]:
            return {
                "call_sid": fit(SmsOutbox.call_sid, call_sid),
                "to_number": fit(SmsOutbox.to_number, to_number.strip()),
                "body": body,
                "status": "queued",
                "created_at": utc_now(),
            }

        return self._added("queue_sms", fields, SmsOutbox, row)

    def sms_sent(self, sms_id: int, twilio_sid: str) -> bool:
        """Mark a queued message sent, with Twilio's message SID."""
        values = {"status": "sent", "twilio_sid": fit(SmsOutbox.twilio_sid, twilio_sid), "sent_at": utc_now()}
        return self._sms_outcome("sms_sent", sms_id, values)

    def sms_failed(self, sms_id: int, error: str) -> bool:
        """Mark a queued message failed, with the reason (numbers in it masked)."""
        values = {"status": "failed", "error": fit(SmsOutbox.error, mask(error))}
        return self._sms_outcome("sms_failed", sms_id, values)

    def _sms_outcome(self, what: str, sms_id: int, values: dict[str, Any]) -> bool:
        def work(conn: Connection) -> bool:
            stmt = (
                update(SmsOutbox).where(SmsOutbox.id == sms_id, SmsOutbox.status == "queued").values(values)
            )
            return conn.execute(stmt).rowcount == 1

        return self._write(what, {"sms_id": sms_id, "status": values["status"]}, work, False)
