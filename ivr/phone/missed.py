"""The webhooks' part in missed calls (ivr/phone/callbacks.py): a call to a missed-call number is
rejected when a call-back will come; the call-back's own webhooks (Direction outbound-api, `cb` in
the URL Twilio was given) hang up on a machine, else play the line, and report the outcome."""

from __future__ import annotations

import logging
import re

from flask import Request, Response, request

from ivr import services, twiml
from ivr.logs import STEP_ENVIRON
from ivr.numbers import caller_number
from ivr.phone.callbacks import REJECT, REJECTED
from ivr.phone.callers import call_sid, caller, is_call_back

log = logging.getLogger("ivr.callbacks")
# A call-back's id as the line wrote it into the URL it gave Twilio: ASCII digits only (str.isdigit
# also takes "²" and "١٢", which int() refuses or reads as another id), at most 18 of them.
_ID = re.compile(r"[0-9]{1,18}")
_CB_ENVIRON = "ivr.call_back_id"


def call_back_id() -> int | None:
    """The missed call this webhook's call calls back (the `cb` of its URL), or None: none given,
    not a call the line placed, or a `cb` that is not the line's (logged once per request)."""
    environ = request.environ  # the request's own (g may outlive it: a CLI's app context)
    if _CB_ENVIRON not in environ:
        raw = request.args.get("cb")
        found = None
        if raw is not None and is_call_back():
            if _ID.fullmatch(raw) is not None:
                found = int(raw)
            else:
                sid = call_sid() or "-"
                log.warning("call=%s: cb=%r is not a call-back id; taken as none", sid, raw[:24])
        environ[_CB_ENVIRON] = found
    known: int | None = environ[_CB_ENVIRON]
    return known


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
    callbacks = services.callbacks()
    # Every call's first webhook comes here: no number parsed unless the line has missed-call numbers.
    if not callbacks.line_numbers or is_call_back():
        return None
    line_number = caller_number(request.form.get("To", "")).reachable
    if line_number is None or line_number not in callbacks.line_numbers:
        return None
    who = caller()
    outcome = callbacks.take(call_sid(), who.number, who.key, line_number)
    if outcome not in REJECTED:
        return None  # withheld, not allowed, capped...: the line answers as usual (and says why in the log)
    return _answer(twiml.reject(), "missed:rejected" if outcome == REJECT else "missed:own-number")


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
