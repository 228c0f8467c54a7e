"""Who is calling and which call, worked out once per webhook request: the caller's number in one
spelling (ivr/numbers.py), its pseudonym and log reference, and the call's CallSid. On a call the
line placed (a call back after a missed call), the caller is the person it called."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import current_app, request

from ivr.numbers import caller_number
from ivr.phone.sids import sid
from ivr.privacy import caller_hash


@dataclass(frozen=True, slots=True)
class Caller:
    """This request's caller.

    `number`: the number in E.164 the line may call or text back, the same for every spelling of
    it; None when withheld, hidden, junk or not a valid number (ivr.numbers.caller_number: the one
    rule for call-backs and texts alike). `key`: the stored pseudonym (of that E.164 number, or of
    the digits of a number-like From that is not valid; None when withheld). `ref`: the log name.
    """

    number: str | None
    key: str | None
    ref: str


# Twilio's Direction of a call the line placed through the REST API: a call back after a missed
# call, whose webhooks carry the line's number as From and the person called as To.
OUTBOUND_API = "outbound-api"


def caller() -> Caller:
    """The caller of the request being handled: From, or on the line's call back (Direction
    outbound-api) the person called, To, so that their language, their returning-caller welcome
    and their rate limit are theirs, as when they ring. Read from each request (not kept in `g`,
    which outlives a request inside a longer app context such as the console phone's); the HMAC
    is worked out once per number and worker (`identify`)."""
    form = request.form
    number = form.get("To", "") if is_call_back() else form.get("From", "")
    return identify(number, str(current_app.config["HASH_SALT"]))


def is_call_back() -> bool:
    """Whether this webhook is of a call the line placed (a call back), by Twilio's Direction."""
    return request.form.get("Direction", "").strip().lower() == OUTBOUND_API


def call_sid() -> str:
    """This request's CallSid in one spelling (ivr/phone/sids.py: stripped, "CA" + lower hex); ""
    when missing. Every key made of it (the call's end, a text once per call, a call-back once per
    call) is then the same however Twilio, or a forger, spelt it."""
    return sid(request.form.get("CallSid", ""), "CA")


# Operations: a call's webhooks all carry the same From; its HMAC is worked out once per worker.
@functools.lru_cache(maxsize=4096)
def identify(number: str, salt: str) -> Caller:
    """Who a From value is: one Caller for every spelling of a number; withheld ones are 'withheld'."""
    read = caller_number(number)
    if read.identity is None:
        return Caller(None, None, "withheld")
    key = caller_hash(read.identity, salt)
    return Caller(read.reachable, key, "caller-" + key[:12])
