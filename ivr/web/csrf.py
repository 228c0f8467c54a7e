"""CSRF protection for the staff dashboard's forms: a random token per session, checked on POST.

Only the staff blueprint uses it: Twilio's webhooks (/voice) are authenticated by their signatures.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token() -> str:
    """This session's token, made on first use; every form carries it in a hidden field."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = rotate()
    return value


def rotate() -> str:
    """A new token (at log-in and log-out, so a token seen before them is worthless after)."""
    value = secrets.token_urlsafe(32)
    session[SESSION_KEY] = value
    return value


def protect() -> None:
    """Refuse with 400 a state-changing request that lacks this session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    given = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        abort(
            400, description="This form is out of date or did not come from this site. Reload and try again."
        )
