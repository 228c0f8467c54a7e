"""Keep caller numbers out of logs: a salted, keyed hash stands in for them."""

from __future__ import annotations

import hashlib
import hmac


def caller_ref(number: str | None, salt: str) -> str:
    """A short stable pseudonym for a phone number (HMAC-SHA256 with the salt)."""
    if not number:
        return "unknown"
    digest = hmac.new(salt.encode(), number.strip().encode(), hashlib.sha256).hexdigest()
    return "caller-" + digest[:12]
