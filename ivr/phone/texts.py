"""Text a topic to the caller: checked, queued once in the outbox, sent through Twilio's REST API."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from ivr import numbers
from ivr.content.models import Block, Prompts
from ivr.content.tree import reading
from ivr.engine import Line
from ivr.store import Store
from ivr.store.core import utc_now
from ivr.store.outbox import CAPPED, DueText

log = logging.getLogger("ivr.sms")
MAX_BODY = 1600  # Twilio's limit for one message body
REST_TIMEOUT_S = 5  # the caller is waiting on the line
MAX_ATTEMPTS = 6  # tries of one text, the one while the caller waits included
RETRY_FIRST_S, RETRY_MAX_S = 30, 3600  # back-off: the wait after the first failed try, and its cap
WAIT_POLL_S = 0.05  # how often a twin request looks whether the first one's text went out
STALE_CLAIM = timedelta(minutes=10)  # a claim this old lost its sender (sending takes seconds)
# Twilio errors no retry can mend (https://www.twilio.com/docs/api/errors): not a valid number
# (21211), not a mobile (21614), the person replied STOP (21610), a region the account may not
# text (21408). Anything else (429, 5xx, a network error) is tried again later.
PERMANENT = frozenset({21211, 21408, 21610, 21614})
_WHY_NOT = {
    "malformed": "not a valid number",
    "country": "in a country texts may not go to",
    "kind": "not a mobile",
}


def topic_text(line: Line, node: str, prompts: Prompts, lang: str) -> str:
    """The whole topic a node belongs to as one message: its title, each section's title and
    text (lists numbered, one item to a line), and the footer; cut to fit one message."""
    tree = line.content.tree
    topic = tree.topic_of(node)
    pieces = [tree.title(topic, lang)] if tree.is_series(topic) else []
    for sid in tree.topic_sections(topic):
        section = tree.section(sid, lang)
        if section.title not in pieces:  # a series' first section may share its title
            pieces.append(section.title)
        pieces += [block_text(b) for b in reading(section, line.emergency_number)]
    body = "\n\n".join([*pieces, prompts.phrases.sms_footer])
    if len(body) <= MAX_BODY:
        return body
    footer = "\n\n" + prompts.phrases.sms_footer
    return body[: MAX_BODY - len(footer) - 1].rstrip() + "…" + footer


def block_text(block: Block) -> str:
    """A block as plain text: a paragraph, or its list items numbered one to a line."""
    if block.items:
        return "\n".join(f"{block.start + i}. {item}" for i, item in enumerate(block.items))
    return block.text


@dataclass
class SmsSender:
    """Texts a caller a topic: checked (number, country, daily cap), queued once per call and topic in
    the store's outbox, then sent through Twilio's REST API: at once while the caller waits, else
    by `send_due` (ivr/phone/outbox.py runs it) with retries and back-off.

    What it returns is what the caller is told, and is true: "sent" once Twilio has taken it, "saved"
    when it waits for a sender that will try again, "failed" when it will not go, "capped" over the
    daily cap, "not_allowed" for a number texts may not go to.
    """

    store: Store
    account_sid: str | None
    auth_token: str | None
    sender: str | None  # a number or a Messaging Service SID ("MG...")
    http_client: Any = None  # a twilio.http.HttpClient; tests pass a fake of Twilio's REST edge
    daily_limit: int = 3  # texts per caller and UTC day (IVR_SMS_DAILY_LIMIT)
    country_codes: str = "91"  # calling codes texts may go to, "91,44" (IVR_SMS_COUNTRY_CODES)
    clock: Callable[[], datetime] = utc_now

    @property
    def configured(self) -> bool:
        """Whether texts can go out at all: without Twilio's credentials the line offers none."""
        return bool(self.account_sid and self.auth_token and self.sender)

    def send(
        self, call_sid: str, to: str, body: str, *, caller_hash: str | None = None, topic: str = ""
    ) -> str:
        """Text `body` to the caller `to` for this call's `topic`, once: "sent", "saved", "failed",
        "capped" or "not_allowed" (see the class). Asked again for the same call and topic (the caller
        presses 8 again, Twilio redelivers the request), it sends nothing more and says how it went."""
        why_not = numbers.why_not_textable(to, self.country_codes)
        if why_not is not None:
            log.info("text for call=%s not queued: the number is %s", call_sid, _WHY_NOT[why_not])
            return "not_allowed"
        now = self.clock()
        queued = self.store.queue_text(
            call_sid,
            to,
            body,
            once_key=f"{call_sid} {topic}" if call_sid else None,
            caller_hash=caller_hash,
            daily_limit=self.daily_limit,
            now=now,
        )
        if queued is None or queued.status == "failed":
            return "failed"
        if queued.status == CAPPED:
            log.warning(
                "text for call=%s not queued: the caller has had %d today", call_sid, self.daily_limit
            )
            return "capped"
        if queued.status == "sent":
            return "sent"
        assert queued.id is not None
        if not queued.new:  # queued by the first delivery of this request: it goes out once, from there
            return self._outcome_of(queued.id) if self.configured else "failed"
        if not self.configured:  # never promised: the engine does not offer texts then
            self.store.sms_failed(queued.id, "no Twilio credentials: texts cannot be sent")
            return "failed"
        outcome = self.attempt(DueText(queued.id, call_sid, to, body, 0), now)
        return {"sent": "sent", "retry": "saved", "claimed": "saved"}.get(outcome, "failed")

    def attempt(self, text: DueText, now: datetime | None = None) -> str:
        """Claim one queued text and send it: "sent", "retry" (back in the queue, due later),
        "failed" (for good), or "claimed" (another sender has it: nothing done)."""
        at = now or self.clock()
        if not self.store.claim_sms(text.id, at):
            return "claimed"
        tries = text.attempts + 1
        try:
            message = self._client().messages.create(to=text.to_number, body=text.body, **self._from())
        except TwilioRestException as exc:
            return self._not_sent(
                text, tries, at, f"Twilio error {exc.code}: {exc.msg}", exc.code in PERMANENT
            )
        except (requests.RequestException, TwilioException) as exc:
            if never_reached(exc):  # no connection was made: it was not sent, so try again
                return self._not_sent(text, tries, at, f"Twilio not reached: {type(exc).__name__}", False)
            # Twilio may have taken it before the answer was lost: never sent again (at most once).
            reason = f"no clear answer from Twilio ({type(exc).__name__}): it may have been sent"
            return self._not_sent(text, tries, at, reason, True)
        self.store.sms_sent(text.id, str(message.sid))
        return "sent"

    def send_due(self, now: datetime | None = None, limit: int = 50) -> Counter[str]:
        """One pass of the outbox sender: fail texts whose sender died mid-send, then try each due
        text once; how many ended each way ("sent", "retry", "failed", "claimed")."""
        at = now or self.clock()
        done: Counter[str] = Counter()
        done["abandoned"] = self.store.sms_abandoned(at - STALE_CLAIM)
        self.store.prune_sms_quota(at)
        if not self.configured:
            return done
        for text in self.store.due_sms(at, limit):
            done[self.attempt(text, at)] += 1
        return done

    def _outcome_of(self, sms_id: int) -> str:
        """What became of a text another request queued: waited for while a sender has it claimed
        (at most the REST timeout and a second), so that the caller hears how it went."""
        deadline = time.monotonic() + REST_TIMEOUT_S + 1
        while True:
            state = self.store.sms_state(sms_id)
            if state is None:
                return "failed"
            status, claimed, tries = state
            if status != "queued":
                return "sent" if status == "sent" else "failed"
            # Unclaimed and never tried: the first request has queued it and is about to send it.
            if (not claimed and tries > 0) or time.monotonic() > deadline:
                return "saved"  # waiting in the queue for its next try: a sender will send it
            time.sleep(WAIT_POLL_S)

    def _not_sent(self, text: DueText, tries: int, at: datetime, reason: str, permanent: bool) -> str:
        first = reason.splitlines()[0][:200]
        if permanent or tries >= MAX_ATTEMPTS:
            log.warning(
                "text id=%d for call=%s failed after %d tries: %s", text.id, text.call_sid, tries, first
            )
            self.store.sms_failed(text.id, reason)
            return "failed"
        wait = retry_delay(tries)
        log.info(
            "text id=%d for call=%s not sent (%s); try %d in %.0f s",
            text.id,
            text.call_sid,
            first,
            tries + 1,
            wait,
        )
        self.store.sms_retry(text.id, reason, at + timedelta(seconds=wait))
        return "retry"

    def _client(self) -> Client:
        return rest_client(self.account_sid, self.auth_token, self.http_client)

    def _from(self) -> dict[str, str]:
        sender = str(self.sender)
        return {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}


def rest_client(account_sid: str | None, auth_token: str | None, http_client: Any = None) -> Client:
    """Twilio's REST client, on `http_client` (tests fake Twilio's edge there) or a real one that
    gives up after REST_TIMEOUT_S."""
    return Client(
        account_sid, auth_token, http_client=http_client or TwilioHttpClient(timeout=REST_TIMEOUT_S)
    )


def never_reached(exc: Exception) -> bool:
    """Whether a failed request surely never reached Twilio: a connect timeout, a connection refused
    or a name not found (urllib3's NewConnectionError), or the client's own error before sending."""
    if isinstance(exc, requests.ConnectTimeout) or not isinstance(exc, requests.RequestException):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def retry_delay(tries: int) -> float:
    """Seconds to wait after the `tries`-th failed try: RETRY_FIRST_S doubled each time, at most
    RETRY_MAX_S (30 s, 1, 2, 4, 8 min: MAX_ATTEMPTS tries span about a quarter of an hour)."""
    return float(min(RETRY_FIRST_S * 2 ** (tries - 1), RETRY_MAX_S))
