"""Twilio's redelivered webhooks answered from memory: I-Twilio-Idempotency-Token.

Twilio sends one token with every delivery of one webhook request (the first, and each retry after
a slow answer or on the number's retry settings). The reply to the first delivery is kept in the
store for a day (ivr/store/replies.py); a delivery whose token was answered gets that same reply
and does nothing again: no second call back, recording, text or journey event.
"""

from __future__ import annotations

import hashlib
import logging

from flask import Response, g, request

from ivr import services
from ivr.store.replies import KeptReply

log = logging.getLogger("ivr.voice")
HEADER = "I-Twilio-Idempotency-Token"
TOKEN_KEPT = 100  # characters of the token kept (it is a header: bounded), plus a 16-character hash


def _key() -> str | None:
    """This request's key: its token and a hash of its path and query (the same token on another
    URL is another request), or None without a token."""
    token = request.headers.get(HEADER, "").strip()
    if not token:
        return None
    where = hashlib.sha256(request.full_path.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{token[:TOKEN_KEPT]} {where}"


def replayed() -> Response | None:
    """Before a webhook's view (after admission): the kept reply for a token already answered, else None."""
    key = _key()
    if key is None:
        return None
    g.ivr_reply_key = key
    kept = services.store().kept_reply(key)
    if kept is None:
        return None
    g.ivr_replayed = True
    log.info(
        "%s %s: a redelivery of a request already answered; the same reply, nothing done",
        request.method,
        request.path,
    )
    response = Response(kept.body, status=kept.status)
    if kept.mimetype:
        response.mimetype = kept.mimetype
    return response


def keep(response: Response) -> Response:
    """After a webhook's view: keep a successful reply under its token, for the redeliveries."""
    key: str | None = g.get("ivr_reply_key")
    if (
        key
        and not g.get("ivr_replayed")
        and not g.get("ivr_failed")
        and 200 <= response.status_code < 300
        and not response.is_streamed
    ):
        body = response.get_data(as_text=True)
        services.store().keep_reply(
            key, KeptReply(response.status_code, response.mimetype if body else None, body)
        )
    return response
