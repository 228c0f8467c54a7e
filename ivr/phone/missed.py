"""The webhooks' part in missed calls (ivr/phone/callbacks.py): a call to a missed-call number is
rejected when a call-back will come; the call-back's own webhooks (Direction outbound-api, `cb` in
the URL Twilio was given) hang up on a machine, else play the line, and report the outcome."""

from __future__ import annotations

import logging

from flask import Request, Response, request

from ivr import services, twiml
from ivr.logs import STEP_ENVIRON
from ivr.numbers import caller_number
from ivr.phone.callers import call_sid, caller, is_call_back

log = logging.getLogger("ivr.callbacks")


def call_back_id() -> int | None:
    """The missed call this webhook's call calls back (the `cb` of its URL), or None."""
    raw = request.args.get("cb", "")
    return int(raw) if raw.isdigit() and len(raw) <= 18 and is_call_back() else None


def on_incoming() -> Response | None:
    """POST /voice, before the line plays: the reply for a missed call that will be called back
    (<Reject reason="busy"/>, free to the caller) or for a call-back a machine answered
    (<Hangup/>, tried again later); None to play the line as usual."""
    found = call_back_id()
    if found is not None:
        answered_by = request.form.get("AnsweredBy", "").strip().lower()[:32]
        if services.callbacks().answered(found, call_sid(), answered_by):
            return None
        return _answer(twiml.hang_up(), f"call-back:{answered_by or 'machine'}")
    line_number = caller_number(request.form.get("To", "")).reachable
    callbacks = services.callbacks()
    if line_number is None or line_number not in callbacks.line_numbers or is_call_back():
        return None
    who = caller()
    if callbacks.take(call_sid(), who.number, who.key, line_number) != "reject":
        return None  # withheld, not allowed, capped...: the line answers as usual (and says why in the log)
    return _answer(twiml.reject(), "missed:rejected")


def on_status(call_status: str) -> None:
    """A final CallStatus of a call-back: its outcome (answered, or tried again, or given up)."""
    found = call_back_id()
    if found is not None:
        answered_by = request.form.get("AnsweredBy", "").strip().lower()[:32]
        services.callbacks().status(found, call_sid(), call_status, answered_by)


def _answer(body: str, event: str) -> Response:
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    # The webhook's access line (ivr/logs.py) says what it did, like every answered webhook's.
    req.environ[STEP_ENVIRON] = {"CallSid": call_sid() or None, "caller": caller().ref, "event": event}
    return Response(body, mimetype="text/xml")
