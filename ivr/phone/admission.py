"""Admission of a webhook request, in order: size and encoding, the IP limit, Twilio's signature,
the caller limit. Each check refuses cheaply before the next, dearer one runs.

A malformed request gets a clear 4xx, never an exception; a forged one 403; a flood the busy reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Request, Response, abort, current_app, request
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER

from ivr import services
from ivr.phone import limits, replay
from ivr.phone.callers import caller
from ivr.phone.signature import body_hashes, is_loopback, requested_url, verify, with_credentials

log = logging.getLogger("ivr.phone.admission")

# Twilio's webhook bodies are a few KB (a SpeechResult is at most a few hundred words).
MAX_WEBHOOK_BYTES = 64 * 1024


def check_webhook(request: Request) -> None:
    """400 for a query string that is not UTF-8 (werkzeug would raise reading it); 413 for a body
    over MAX_WEBHOOK_BYTES, whether it says its length (Content-Length) or not (chunked)."""
    request.max_content_length = MAX_WEBHOOK_BYTES
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, "the query string is not UTF-8")
    if request.content_length is None and "wsgi.input_terminated" in request.environ:
        # A body with no length (Transfer-Encoding: chunked) is read by werkzeug only up to the
        # limit, and the rest dropped without a word: a form cut short. Read one byte past the limit
        # to tell a body that fits from one that does not; what fits is kept for the form parser.
        request.max_content_length = MAX_WEBHOOK_BYTES + 1
        body = request.get_data(cache=True)
        request.max_content_length = MAX_WEBHOOK_BYTES
        if len(body) > MAX_WEBHOOK_BYTES:
            abort(413)


def admit() -> Response | None:
    """Before every webhook: None to go on, or the reply that refuses the request (or an abort)."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    check_webhook(req)
    found = services.of(app)
    rate_limits = found.limits
    if rate_limits is not None:
        refused = limits.limit_ip(req, rate_limits, found.runtime)
        if refused is not None:  # before the signature: a flood of forged requests is shed cheaply
            return refused
    check_signature(req, app.config)
    if rate_limits is not None:
        return limits.limit_caller(req, rate_limits, caller(), found.runtime)
    return None


def check_signature(req: Request, cfg: Mapping[str, Any]) -> None:
    """403 unless X-Twilio-Signature is right for this URL and form, or URL and JSON body
    (ivr/phone/signature.py). IVR_DEV_SKIP_SIGNATURE lets requests from this machine through
    unchecked, and only those that came straight to it (see `dev_skip_refused`)."""
    if cfg["DEV_SKIP_SIGNATURE"]:
        refused = dev_skip_refused(req, cfg)
        if not refused:
            log.warning("SIGNATURE CHECK SKIPPED (IVR_DEV_SKIP_SIGNATURE=1) for %s", req.path)
            return
        log.warning(
            "IVR_DEV_SKIP_SIGNATURE=1 does not apply to %s: %s; checking the signature", req.path, refused
        )
    url = requested_url(req, cfg["PUBLIC_BASE_URL"])
    verdict = verify(
        url,
        req.form,
        req.headers,
        auth_token=cfg["TWILIO_AUTH_TOKEN"],
        shared_keys=cfg["SHARED_KEYS"],
        body=req.get_data(cache=True) if body_hashes(url) is not None else None,
        also=with_credentials(url, req),
    )
    if not verdict.ok:
        log.warning("rejected %s %s: %s", req.method, req.path, verdict.reason)
        abort(403)


# The only headers a client talking to the line directly sends: curl, urllib (the console phone),
# werkzeug's test client, and Twilio itself. The dev switch skips the check only for a request
# carrying none but these; any other header (X-Forwarded-*, Forwarded, Via, CDN-Loop, Cf-Ray,
# Fly-Client-IP, X-Original-URL... or one nobody has thought of yet) may be a proxy's, so a rule,
# not a list of known proxy headers: whatever is not known to be a direct client's is suspect.
DIRECT_CLIENT_HEADERS = (
    "Host",
    "User-Agent",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Cache-Control",
    "Pragma",
    "Expect",
    "TE",
    "Authorization",  # a webhook URL with credentials (curl -u, Twilio's user:password@)
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    replay.HEADER,  # I-Twilio-Idempotency-Token
    "X-Home-Region",
)
_DIRECT = frozenset(h.lower() for h in DIRECT_CLIENT_HEADERS)


def dev_skip_refused(req: Request, cfg: Mapping[str, Any]) -> str:
    """Why the dev switch must not skip this request's check ('' when it may): only a client on this
    machine talking to the line directly. A proxy on this machine (ngrok, nginx, a tunnel) relays
    the whole internet from 127.0.0.1, so a request with any header outside DIRECT_CLIENT_HEADERS
    (a proxy's, however it is spelt), or any request when proxy hops are configured
    (IVR_PROXY_HOPS: ProxyFix may have rewritten remote_addr), is checked. The reason names a
    header, never its value (which may hold a caller's address or number)."""
    if cfg.get("RATELIMIT_PROXY_HOPS"):
        return "IVR_PROXY_HOPS is set, so requests come through a proxy"
    for name, _ in req.headers.items():
        # WSGI spells X_Forwarded_For and X-Forwarded-For alike; compare the same way.
        if name.lower().replace("_", "-") not in _DIRECT:
            return f"it may have been relayed by a proxy ({name[:64]!r} header is not a direct client's)"
    peer = req.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", req.environ.get("REMOTE_ADDR"))
    if not (is_loopback(peer) and is_loopback(req.remote_addr)):
        return "it does not come from this machine"
    return ""


def guard(bp: Blueprint) -> None:
    """Admit every request to `bp`'s views as above; then answer a redelivered one (its
    I-Twilio-Idempotency-Token already answered) with the reply it had (ivr/phone/replay.py)."""
    bp.before_request(admit)
    bp.before_request(replay.replayed)
    bp.after_request(replay.keep)
