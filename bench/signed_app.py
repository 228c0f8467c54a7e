"""The floor for bench/webhooks.py: bare_app's constant TwiML, after the one check every webhook must make.

Each request's form is read and its X-Twilio-Signature checked with twilio's RequestValidator, as the
guide requires of every webhook; nothing else (no state, engine, rate limits, database or log of the
call). Its throughput against bare_app's is the best ratio any line that checks signatures can reach.
"""

from __future__ import annotations

import hmac
import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

from bench.bare_app import TWIML

app = Flask(__name__)
validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))
PUBLIC = os.environ.get("PUBLIC_BASE_URL", "")


@app.post("/voice")
@app.post("/voice/<path:_rest>")
def webhook(_rest: str = "") -> Response:
    """Every webhook: check the signature, then the same TwiML."""
    query = request.query_string.decode()
    url = f"{PUBLIC}{request.path}?{query}" if query else f"{PUBLIC}{request.path}"
    # The cheapest correct check: one HMAC for the URL as called (validate() also tries port variants).
    expected = validator.compute_signature(url, request.form)
    if not hmac.compare_digest(expected.encode(), request.headers.get("X-Twilio-Signature", "").encode()):
        abort(403)
    return Response(TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    """Ready check for the benchmark's server starter."""
    return Response("ok", mimetype="text/plain")
