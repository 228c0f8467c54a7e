"""Replies kept per I-Twilio-Idempotency-Token: Twilio's redelivery of a webhook gets the reply the
first delivery got, and the line does nothing twice.

Twilio sends the same token with every retry of one webhook request (after a timeout, or on the
number's retry settings). The reply is kept for KEEP (a day, longer than any retry) and then pruned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, select

from ivr.store.batch import Batched, Queued
from ivr.store.core import fit, utc_now
from ivr.store.fastpath import RawReads
from ivr.store.models import WebhookReply

KEEP = timedelta(hours=24)  # Twilio retries within minutes; a day is ample
PRUNE_EVERY_S = 600.0  # each process deletes expired replies at most this often

_REPLY = select(WebhookReply.status, WebhookReply.mimetype, WebhookReply.body).where(
    WebhookReply.token == bindparam("token"), WebhookReply.created_at >= bindparam("since")
)


@dataclass(frozen=True, slots=True)
class KeptReply:
    """A reply as given: HTTP status, content type (None for an empty 204) and body."""

    status: int
    mimetype: str | None
    body: str


class Replies(Batched, RawReads):
    """The replies of requests that carried an idempotency token, for a day."""

    _replies_pruned_at = 0.0  # time.monotonic() of this process's last prune

    def kept_reply(self, token: str, now: datetime | None = None) -> KeptReply | None:
        """The reply kept for `token` within KEEP, or None (never seen, expired, or no database)."""
        # No flush of this process's queued writes first: a retry comes seconds after the first
        # delivery, long after the batch is written; twins at once are kept single by the effects.
        since = (now or utc_now()) - KEEP
        found = self._first_row("kept_reply", {}, _REPLY, {"token": token[:128], "since": since})
        return KeptReply(int(found[0]), found[1], str(found[2])) if found else None

    def keep_reply(self, token: str, reply: KeptReply) -> bool:
        """Keep the reply given to `token` (the first one given stays); expired ones are pruned."""
        row = {
            "token": fit(WebhookReply.token, token),
            "status": reply.status,
            "mimetype": fit(WebhookReply.mimetype, reply.mimetype),
            "body": reply.body,
            "created_at": utc_now(),
        }
        ok = self._write_soon(Queued("webhook_reply", row, {"status": reply.status}))
        if time.monotonic() - self._replies_pruned_at > PRUNE_EVERY_S:
            self._replies_pruned_at = time.monotonic()
            self.prune_replies()
        return ok

    def prune_replies(self, now: datetime | None = None) -> int:
        """Delete the replies older than KEEP; how many."""
        before = (now or utc_now()) - KEEP

        def work(conn: Connection) -> int:
            return int(conn.execute(delete(WebhookReply).where(WebhookReply.created_at < before)).rowcount)

        return self._write("prune_replies", {}, work, 0)
