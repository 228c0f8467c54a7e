"""What every response shares: security headers; and every web page: sessions (none for the webhooks),
/<lang>/ paths."""

from __future__ import annotations

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.routing import BaseConverter

# Pages and forms may load only this site's files: no inline scripts or styles, no framing.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Set on every response that has not set its own.
EVERY_RESPONSE = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
# HTTPS only, for a year, on every subdomain too (a year or more is what browsers' preload lists ask).
HSTS = "max-age=31536000; includeSubDomains"


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
    """The headers every response of the app gets, whatever made it (a page, a webhook's TwiML,
    /healthz, a WAV under /audio, a static file, a redirect, a 404/405/413/500 of any blueprint): an
    `after_request` of the app, not of a blueprint, which Flask runs for error responses too.

    - Content-Security-Policy: nothing but this site's own files; no scripts, no framing. Harmless on
      TwiML, JSON and audio, and it keeps a response sniffed as HTML from running anything.
    - X-Content-Type-Options nosniff, X-Frame-Options DENY (for browsers without frame-ancestors),
      Referrer-Policy same-origin.
    - Strict-Transport-Security (a year, subdomains) when the request came over HTTPS or the line's
      public address (PUBLIC_BASE_URL) is https://: browsers ignore it over plain HTTP, and behind a
      TLS proxy the app sees HTTP (X-Forwarded-Proto is not trusted), so the setting says it.
    - Cache-Control no-store on everything under /staff/, its 404s included: those pages hold
      callers' numbers, and must stay out of caches and the browser's history.
    """
    headers = response.headers
    # One pass over the headers the response has (each Headers.setdefault of a missing name scans them
    # and raises a KeyError inside: a twentieth of a webhook's CPU for five headers).
    present = {name.lower() for name, _ in headers}
    for name, value in EVERY_RESPONSE:
        if name.lower() not in present:
            headers.add(name, value)
    public = current_app.config.get("PUBLIC_BASE_URL") or ""
    if (
        request.is_secure or str(public).startswith("https://")
    ) and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    if request.path == "/staff" or request.path.startswith("/staff/"):
        headers["Cache-Control"] = "no-store"
    return response
