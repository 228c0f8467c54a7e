"""Who is calling, worked out once per webhook request: the pseudonym of From and its log reference."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from flask import current_app, g, request

from ivr.privacy import caller_hash

_NUMBER = re.compile(r"\+?[0-9]{6,15}")  # E.164-ish; Twilio sends "anonymous" etc. for withheld numbers
# What Twilio sends as From for anonymous, restricted, unknown, unavailable and blocked callers.
WITHHELD = frozenset({"+266696687", "+7378742833", "+86282452253", "+8656696", "+2562533"})


@dataclass(frozen=True, slots=True)
class Caller:
    """This request's caller: the number as sent, its stored pseudonym (None when withheld), log name."""

    number: str
    key: str | None
    ref: str


def caller() -> Caller:
    """The caller of the request being handled (one HMAC per request, however often it is asked)."""
    found: Caller | None = g.get("ivr_caller")
    if found is None:
        found = g.ivr_caller = identify(request.form.get("From", ""), str(current_app.config["HASH_SALT"]))
    return found


# Operations: a call's webhooks all carry the same From; its HMAC is worked out once per worker.
@functools.lru_cache(maxsize=4096)
def identify(number: str, salt: str) -> Caller:
    """The pseudonym of a From value: only a real number gets one; withheld or odd ones are 'withheld'."""
    number = number.strip()
    if not _NUMBER.fullmatch(number) or number in WITHHELD:
        return Caller(number, None, "withheld")
    key = caller_hash(number, salt)
    return Caller(number, key, "caller-" + key[:12])
