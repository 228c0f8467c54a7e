"""`flask call --missed-call`: a missed call and the line's free call-back, with no Twilio account.

The console phone rings a missed-call number (IVR_MISSED_CALL_NUMBERS) and is rejected; the line's
own placer (ivr/phone/callbacks.py) then places the call-back through `ConsoleTwilio`, Twilio's REST
API as far as the console needs it (the call is recorded and given a CallSid, never rung), and the
phone answers it: Twilio's request of the call-back's URL, with AnsweredBy, then the same flow.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace

import click
from flask import Flask
from twilio.http import HttpClient
from twilio.http.response import Response

from ivr import services
from ivr.phone.callbacks import QUIET, CallBacks
from ivr.simulator.phone import Phone, Turn
from ivr.store.missed import DueCallback

ANSWERED_BY = ("human", "unknown", "machine_start", "machine_end_beep", "fax")
SAMPLE_CALLER = "+919876543210"  # an Indian mobile: call-backs go to India by default


class ConsoleTwilio(HttpClient):  # type: ignore[misc]
    """Twilio's REST API for the console: each call placed is kept in `placed` and gets a CallSid."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("ivr.simulator.twilio"), is_async=False)
        self.placed: list[dict[str, str]] = []

    def request(
        self, method: str, uri: str, *args: object, data: dict[str, object] | None = None, **kw: object
    ) -> Response:
        """Take a call to place: Twilio's 201 with a new CallSid."""
        placed = {key: str(value) for key, value in (data or {}).items()}
        self.placed.append(placed)
        sid = "CA" + secrets.token_hex(16)
        return Response(201, json.dumps({"sid": sid, "status": "queued", "to": placed.get("To")}))


def ring_and_call_back(app: Flask, phone: Phone, answered_by: str, echo: Callable[[str], None]) -> Turn:
    """The phone rings its line (a missed-call number) and is rejected; the line places the
    call-back when it is due (the clock jumps there) and the phone answers it, as `answered_by`
    says. What the phone heard: the call-back's first turn, or the line's answer when it was not
    rejected (a number the line does not call back).

    For the whole call the app's call-backs are placed through `ConsoleTwilio` with the console's
    own credentials, so that the line takes the missed call as one it can call back (a line without
    Twilio's credentials answers missed calls as usual) and never reaches the real Twilio."""
    twilio = ConsoleTwilio()
    console = "AC" + "0" * 32
    line = services.of(app)
    own = line.callbacks
    placer = replace(own, account_sid=console, auth_token="console", http_client=twilio)
    line.callbacks = placer
    try:
        return _call_back(app, phone, answered_by, echo, placer, twilio)
    finally:
        line.callbacks = own


def _call_back(
    app: Flask,
    phone: Phone,
    answered_by: str,
    echo: Callable[[str], None],
    placer: CallBacks,
    twilio: ConsoleTwilio,
) -> Turn:
    first = phone.dial()
    if not any(verb.tag == "Reject" for root in first.documents for verb in root):
        echo("  ~ the line answered: it does not call this number back (its log says why)")
        return first
    echo('  ~ rejected with <Reject reason="busy"/>: free to the caller, who hangs up')
    store = services.store(app)
    row = next((r for r in store.missed_calls() if r.call_sid == phone.call_sid), None)
    if row is None or row.to_number is None or row.next_attempt_at is None or row.state != "queued":
        raise click.ClickException("no call-back was queued for this call (is the database up?)")
    due = DueCallback(row.id, row.to_number, row.line_number, row.attempts)
    outcome = placer.attempt(due, row.next_attempt_at)
    placed = store.missed_call(row.id)
    if outcome != "placed" or placed is None or placed.outbound_sid is None:
        raise click.ClickException(f"the call-back was not placed ({outcome})")
    call = twilio.placed[-1]
    after = " (after the quiet hours)" if row.note == QUIET else ""
    echo(
        f"  ~ {row.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC{after}:"
        f" the line calls {call['To']} from {call['From']}, machine detection {call['MachineDetection']}"
    )
    echo(f"> answered by: {answered_by}")
    return phone.answer_call_back(call["Url"], placed.outbound_sid, answered_by)
