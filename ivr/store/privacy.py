"""What the store lets stand for a caller (pseudonyms only), and numbers masked out of free text."""

from __future__ import annotations

import logging
import re

from ivr.privacy import mask_numbers

log = logging.getLogger("ivr.store")

# Only what ivr.privacy makes may stand for a caller: the full digest, or the short log reference.
_PSEUDONYM = re.compile(r"[0-9a-f]{64}|caller-[0-9a-f]{12}")


def pseudonym(value: str | None) -> str | None:
    """The value if it is a pseudonym ivr.privacy made; anything else (a number!) is never stored."""
    if value is not None and _PSEUDONYM.fullmatch(value):
        return value
    if value not in (None, "", "unknown"):
        # Said without the value: it may well be a phone number.
        log.error("refused a caller_hash that is not a pseudonym from ivr.privacy.caller_hash: not stored")
    return None


def ref(key: str | None) -> str:
    """The short form the webhook logs use, so that log lines and rows can be matched."""
    if not key:
        return "unknown"
    return key if key.startswith("caller-") else "caller-" + key[:12]


def mask(text: str) -> str:
    """The text with anything that looks like a phone number replaced by <number> (the logs' rule:
    ivr.privacy.mask_numbers)."""
    return mask_numbers(text)
