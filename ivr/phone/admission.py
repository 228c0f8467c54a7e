"""Admission of a webhook request, in order: size and encoding, the IP limit, Twilio's signature,
the caller limit. Each check refuses cheaply before the next, dearer one runs.

A malformed request gets a clear 4xx, never an exception; a forged one 403; a flood the busy reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Request, Response, abort, current_app, request

from ivr import services
from ivr.phone import limits, replay
from ivr.phone.callers import caller
from ivr.phone.signature import is_loopback, requested_url, verify

log = logging.getLogger("ivr.phone.admission")

# Twilio's webhook bodies are a few KB (a SpeechResult is at most a few hundred words).
MAX_WEBHOOK_BYTES = 64 * 1024


def check_webhook(request: Request) -> None:
    """400 for a query string that is not UTF-8 (werkzeug would raise reading it); 413 past the size."""
    request.max_content_length = MAX_WEBHOOK_BYTES
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, "the query string is not UTF-8")


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
    """403 unless X-Twilio-Signature is right for this URL and form (ivr/phone/signature.py)."""
    if cfg["DEV_SKIP_SIGNATURE"] and is_loopback(req.remote_addr):
        log.warning("SIGNATURE CHECK SKIPPED (IVR_DEV_SKIP_SIGNATURE=1) for %s", req.path)
        return
    verdict = verify(
        requested_url(req, cfg["PUBLIC_BASE_URL"]),
        req.form,
        req.headers,
        auth_token=cfg["TWILIO_AUTH_TOKEN"],
        shared_keys=cfg["SHARED_KEYS"],
    )
    if not verdict.ok:
        log.warning("rejected %s %s: %s", req.method, req.path, verdict.reason)
        abort(403)


def guard(bp: Blueprint) -> None:
    """Admit every request to `bp`'s views as above; then answer a redelivered one (its
    I-Twilio-Idempotency-Token already answered) with the reply it had (ivr/phone/replay.py)."""
    bp.before_request(admit)
    bp.before_request(replay.replayed)
    bp.after_request(replay.keep)
