"""What every web page shares: security headers, sessions (none for the webhooks), /<lang>/ paths."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.routing import BaseConverter

# Pages and forms may load only this site's files: no inline scripts or styles, no framing.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class LanguageConverter(BaseConverter):
    """A language code in a path (/hi/...): two or three lowercase letters, so /voice never matches."""

    regex = "[a-z]{2,3}"


class PageSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the web pages; none for Twilio's webhooks, which never use one."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """No session (Flask then gives a null one) for /voice: saves verifying a cookie per webhook."""
        if request.path.startswith("/voice"):
            return None
        return super().open_session(app, request)


def secure_headers(response: Response) -> Response:
    """Headers every web page gets (not the Twilio webhooks, which return TwiML)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    return response
