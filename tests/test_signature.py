"""Only Twilio may drive the line: every webhook checks X-Twilio-Signature."""

from __future__ import annotations

import pytest
from flask import Flask
from twilio.request_validator import HMAC_SHA256, RequestValidator

from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, make_app

pytestmark = pytest.mark.integration

PARAMS = {"CallSid": "CA1", "From": "+15005550006", "To": "+15005550001"}
STEP = "/voice/step?n=main&p=0&s=0&m=0&l=en"


def _post(app: Flask, path: str, params: dict[str, str], headers: dict[str, str]) -> int:
    return app.test_client().post(path, data=params, headers=headers).status_code


@pytest.mark.parametrize("path", ["/voice", STEP, "/voice/dial?n=main&p=0&s=0&m=0&l=en"])
def test_signed_requests_are_answered(app: Flask, path: str) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + path, PARAMS)
    assert _post(app, path, PARAMS, {"X-Twilio-Signature": signature}) == 200


@pytest.mark.parametrize("path", ["/voice", STEP, "/voice/dial?n=main&p=0&s=0&m=0&l=en"])
def test_unsigned_requests_are_refused(app: Flask, path: str) -> None:
    assert _post(app, path, PARAMS, {}) == 403


@pytest.mark.parametrize(
    ("what", "sign_path", "sign_params", "token"),
    [
        ("wrong token", "/voice", PARAMS, "not-the-token"),
        ("tampered params", "/voice", {**PARAMS, "From": "+15550000000"}, AUTH_TOKEN),
        ("other URL", "/voice/step", PARAMS, AUTH_TOKEN),
    ],
)
def test_forged_signatures_are_refused(
    app: Flask, what: str, sign_path: str, sign_params: dict[str, str], token: str
) -> None:
    signature = RequestValidator(token).compute_signature(BASE_URL + sign_path, sign_params)
    assert _post(app, "/voice", PARAMS, {"X-Twilio-Signature": signature}) == 403, what


def test_query_string_is_covered_by_the_signature(app: Flask) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + STEP, PARAMS)
    assert _post(app, STEP.replace("n=main", "n=symptoms"), PARAMS, {"X-Twilio-Signature": signature}) == 403


def test_hmac_sha256_with_a_webhook_shared_key() -> None:
    app = make_app(TWILIO_WEBHOOK_KEYS="webhooks_sharedkey_A=shared-secret-A")
    settings = "key=webhooks_sharedkey_A,algorithm=HMAC_SHA256"
    good = RequestValidator("shared-secret-A").compute_signature(BASE_URL + "/voice", PARAMS, HMAC_SHA256)
    headers = {"X-Twilio-Signature": good, "X-Twilio-Webhooks-Signature-Settings": settings}
    assert _post(app, "/voice", PARAMS, headers) == 200
    # SHA-1 of the same secret is not what the settings header promised
    sha1 = RequestValidator("shared-secret-A").compute_signature(BASE_URL + "/voice", PARAMS)
    assert _post(app, "/voice", PARAMS, {**headers, "X-Twilio-Signature": sha1}) == 403


def test_hmac_sha256_with_an_unknown_key_or_wrong_secret_is_refused() -> None:
    app = make_app(TWILIO_WEBHOOK_KEYS="webhooks_sharedkey_A=shared-secret-A")
    for key_id, secret in [("webhooks_sharedkey_B", "shared-secret-A"), ("webhooks_sharedkey_A", "guess")]:
        sig = RequestValidator(secret).compute_signature(BASE_URL + "/voice", PARAMS, HMAC_SHA256)
        headers = {
            "X-Twilio-Signature": sig,
            "X-Twilio-Webhooks-Signature-Settings": f"key={key_id},algorithm=HMAC_SHA256",
        }
        assert _post(app, "/voice", PARAMS, headers) == 403


def test_hmac_sha256_with_the_auth_token_when_no_key_is_named(app: Flask) -> None:
    sig = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + "/voice", PARAMS, HMAC_SHA256)
    headers = {"X-Twilio-Signature": sig, "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_SHA256"}
    assert _post(app, "/voice", PARAMS, headers) == 200


def test_public_base_url_is_what_gets_verified() -> None:
    app = make_app(PUBLIC_BASE_URL="https://ivr.example.org")
    public = RequestValidator(AUTH_TOKEN).compute_signature("https://ivr.example.org" + STEP, PARAMS)
    internal = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + STEP, PARAMS)
    assert _post(app, STEP, PARAMS, {"X-Twilio-Signature": public}) == 200
    assert _post(app, STEP, PARAMS, {"X-Twilio-Signature": internal}) == 403


def test_dev_switch_only_opens_the_door_to_this_machine(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(DEV_SKIP_SIGNATURE=True)
    client = app.test_client()
    assert client.post("/voice", data=PARAMS).status_code == 200
    assert any("SIGNATURE CHECK SKIPPED" in r.getMessage() for r in caplog.records)
    remote = client.post("/voice", data=PARAMS, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 403


def test_rejection_is_logged_without_the_caller_number(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    _post(app, "/voice", PARAMS, {"X-Twilio-Signature": "forged"})
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "rejected POST /voice" in messages
    assert PARAMS["From"] not in messages


def test_caller_number_never_logged_in_clear(signed: SignedClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")  # the step's own line is DEBUG (gunicorn's access line says it at INFO)
    status, _ = signed.post("/voice", {"From": "+447700900123"})
    assert status == 200
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "caller-" in text
    assert "+447700900123" not in text and "7700900123" not in text
