"""Keep caller numbers out of logs and the database: a salted, keyed hash stands in for them."""

from __future__ import annotations

import hashlib
import hmac


def caller_hash(number: str, salt: str) -> str:
    """The full pseudonym of a phone number (HMAC-SHA256 with the salt, 64 hex digits), for storage."""
    return hmac.new(salt.encode(), number.strip().encode(), hashlib.sha256).hexdigest()
