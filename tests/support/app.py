"""An app on the real content with test secrets, a client that signs like Twilio, answering a call."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from ivr.config import Settings
from ivr.factory import create_app
from ivr.simulator import Phone, Turn
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.twiml import assert_valid_twiml

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BASE_URL = "http://localhost"
OPERATOR = "+441234567890"
# Tests never depend on the wall clock: Wednesday 25 November 2026, 11:00 in India, in hours.
IN_HOURS = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)


def make_app(**overrides: Any) -> Flask:
    """An app on the real content with test secrets; overrides go into its config."""
    config: dict[str, Any] = {
        "TESTING": True,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HASH_SALT": "test-salt",
        "SECRET_KEY": "test-secret-key",
        "OPERATOR_NUMBER": None,
        "DEV_SKIP_SIGNATURE": False,
        "PUBLIC_BASE_URL": None,
        "RATELIMIT_ENABLED": False,  # a test drives calls far faster than callers; see tests/test_ops.py
        "CLOCK": lambda: IN_HOURS,
        # Texts can be sent (to Twilio's REST API faked at its edge), so the line offers them as in
        # production; a test about a line without Twilio's credentials sets TWILIO_ACCOUNT_SID=None.
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_REST_TOKEN": "rest-token",
        "TWILIO_SMS_FROM": "+15005550009",
        "TWILIO_HTTP_CLIENT": FakeTwilioHttp(),
    }
    config.update(overrides)
    return create_app(config)


def mounted(app: Flask, path: str) -> Flask:
    """`app` served under `path` only, as a WSGI server with SCRIPT_NAME=path (or nginx passing
    /ivr/ through to `gunicorn --env SCRIPT_NAME=/ivr`) serves it: werkzeug's DispatcherMiddleware
    gives the app root_path `path`; any other path is 404."""
    app.wsgi_app = DispatcherMiddleware(NotFound(), {path: app.wsgi_app})  # type: ignore[method-assign]
    return app


class SignedClient:
    """Posts to the app with a valid X-Twilio-Signature, as Twilio would."""

    def __init__(self, app: Flask, token: str = AUTH_TOKEN) -> None:
        self.client = app.test_client()
        self.validator = RequestValidator(token)
        self.caller = indian_mobile()  # a new caller the line can call back: it remembers numbers
        self.call_sid = "CA" + secrets.token_hex(16)  # and a new call: what is done once is per call

    def post(
        self, path: str, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, ET.Element | None]:
        """POST signed; return the status and the parsed TwiML (None for a non-XML body)."""
        form = {"CallSid": self.call_sid, "From": self.caller, "To": "+15005550001", **(params or {})}
        signature = self.validator.compute_signature(BASE_URL + path, form)
        response = self.client.post(
            path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})}
        )
        body = response.get_data(as_text=True)
        root = ET.fromstring(body) if response.mimetype == "text/xml" else None
        return response.status_code, root

    def follow(self, root: ET.Element, params: Mapping[str, str]) -> ET.Element:
        """Answer a reply's one <Gather> as Twilio would (its action URL, signed): the reply, checked
        against Twilio's TwiML schema."""
        (found,) = root.findall("Gather")
        status, reply = self.post(found.get("action", ""), params)
        assert status == 200 and reply is not None
        assert_valid_twiml(ET.tostring(reply))
        return reply


def other_leg(phone: Phone, url: str) -> tuple[int, str]:
    """Request a URL of a reply that Twilio requests on another leg of the call (a <Number url>
    whisper to the person answering, an <Enqueue waitUrl>), signed, at the phone's public address."""
    absolute = urljoin(phone.base_url + "/", url)
    params = {"CallSid": phone.call_sid, "From": phone.caller, "To": phone.line_number}
    return phone.transport.post(absolute, params, phone.signed_headers(absolute, params))


def indian_mobile() -> str:
    """A new caller's number as Twilio sends it: a valid Indian mobile (texts may go to it)."""
    return f"+919{secrets.randbelow(10**9):09d}"


def answer(phone: Phone, lang_key: str = "1", *, remember: bool = False) -> Turn:
    """Dial as a new caller and pick a language (1 English, 2 Hindi) at the language menu; when the
    line asks whether to remember it (not for a withheld number), 1 if `remember`, else 2: the
    welcome (after "Thank you. I will remember." with `remember`)."""
    chooser = phone.dial()
    assert chooser.gather is not None and "n=_language" in chooser.gather.get("action", ""), chooser.says
    return choose(phone, lang_key, remember=remember)


def choose(phone: Phone, lang_key: str, *, remember: bool = False) -> Turn:
    """At the language menu, press `lang_key`; when the line asks whether to remember the choice,
    1 if `remember`, else 2 (a withheld number is never asked)."""
    chosen = phone.press(lang_key)
    if chosen.gather is not None and "n=_consent" in chosen.gather.get("action", ""):
        return phone.press("1" if remember else "2")
    return chosen


# How long a call back's number and a recorded question are kept by default (the settings the
# offers say: "... delete it 30 days later.").
CALLBACK_DAYS: int = Settings.model_fields["retain_callback_days"].default
RECORDING_DAYS: int = Settings.model_fields["retain_recording_days"].default
