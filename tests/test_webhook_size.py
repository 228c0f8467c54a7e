"""A webhook body over 64 KiB is refused with 413 however it comes (Content-Length or chunked),
and one within the limit is read whole: the signature covers every field, so a form cut short
would be refused as forged (403) or, worse, answered on part of what Twilio sent."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask

from ivr.phone.admission import MAX_WEBHOOK_BYTES
from ivr.simulator.server import Gunicorn
from tests.support.app import AUTH_TOKEN, BASE_URL
from tests.support.signing import post_chunked, twilio_signature

pytestmark = pytest.mark.integration

FORM = {"CallSid": "CAsize", "From": "+15005550006", "To": "+15005550001"}


def _form_of(size: int) -> dict[str, str]:
    """Twilio's form with a SpeechResult that makes the urlencoded body exactly `size` bytes."""
    base = len(urlencode({**FORM, "SpeechResult": ""}))
    return {**FORM, "SpeechResult": "a" * (size - base)}


def _post_chunked(app: Flask, path: str, form: dict[str, str], base_url: str = BASE_URL) -> int:
    """POST through the test client as a server hands a chunked body over: no Content-Length,
    and the stream ends where the body does (wsgi.input_terminated)."""
    body = urlencode(form).encode()
    response = app.test_client().post(
        path,
        input_stream=io.BytesIO(body),
        headers={
            "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, base_url + path, form.items()),
            "Content-Type": "application/x-www-form-urlencoded",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    return response.status_code


@pytest.mark.parametrize("size", [MAX_WEBHOOK_BYTES + 1, MAX_WEBHOOK_BYTES + 4096, 1024 * 1024])
def test_a_chunked_body_over_the_limit_is_refused_like_a_long_content_length(app: Flask, size: int) -> None:
    form = _form_of(size)
    assert _post_chunked(app, "/voice", form) == 413
    sized = app.test_client().post(
        "/voice",
        data=form,
        headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, BASE_URL + "/voice", form.items())},
    )
    assert sized.status_code == 413


@pytest.mark.parametrize("size", [200, MAX_WEBHOOK_BYTES - 1, MAX_WEBHOOK_BYTES])
def test_a_chunked_body_within_the_limit_is_read_whole(app: Flask, size: int) -> None:
    # The signature covers the last byte of SpeechResult: it passes only if all of it was read.
    assert _post_chunked(app, "/voice", _form_of(size)) == 200


@pytest.mark.parametrize(
    "extra",
    [
        {f"f{i}": "1" for i in range(1500)},  # werkzeug's max_form_parts is 1,000
        {"SpeechResult": "a" * (MAX_WEBHOOK_BYTES + 1)},
    ],
    ids=["many parts", "one long part"],
)
def test_an_oversize_multipart_form_is_refused(app: Flask, extra: dict[str, str]) -> None:
    form = {**FORM, **extra}
    headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, BASE_URL + "/voice", form.items())}
    response = app.test_client().post(
        "/voice", data=form, headers=headers, content_type="multipart/form-data"
    )
    assert response.status_code == 413


@pytest.mark.system
@pytest.mark.slow
def test_gunicorn_refuses_a_chunked_body_over_the_limit_and_reads_one_within(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": "https://line.example",
        "IVR_RATELIMIT": "0",
    }
    with Gunicorn("app:app", workers=1, env=env, log_path=tmp_path / "log") as server:
        for size, expected in [
            (MAX_WEBHOOK_BYTES, 200),
            (MAX_WEBHOOK_BYTES + 1, 413),
            (300 * 1024, 413),
            (500, 200),
        ]:
            form = _form_of(size)
            headers = {
                "X-Twilio-Signature": twilio_signature(
                    AUTH_TOKEN, "https://line.example/voice", form.items()
                ),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            status, body = post_chunked("127.0.0.1", server.port, "/voice", urlencode(form).encode(), headers)
            assert status == expected, (size, body[:300], server.log()[-2000:])
            if expected == 200:
                assert ET.fromstring(body).tag == "Response"
        # A request line past gunicorn's limit_request_line (4,094 bytes) is refused before the app.
        status, _ = post_chunked("127.0.0.1", server.port, "/voice?x=" + "a" * 8000, b"", {})
        assert status in (400, 414)
