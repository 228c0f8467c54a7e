"""Cheap checks before the webhooks' own: a malformed request gets a clear 4xx, not an exception."""

from __future__ import annotations

from flask import Request, abort

# Twilio's webhook bodies are a few KB (a SpeechResult is at most a few hundred words).
MAX_WEBHOOK_BYTES = 64 * 1024


def check_webhook(request: Request) -> None:
    """400 for a query string that is not UTF-8 (werkzeug would raise reading it); 413 past the size.

    The first of the webhooks' checks (ivr/voice.py), before anything reads the request.
    """
    request.max_content_length = MAX_WEBHOOK_BYTES
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, "the query string is not UTF-8")
