"""Only Twilio may drive the line: every webhook checks X-Twilio-Signature."""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from twilio.request_validator import HMAC_SHA256, RequestValidator

from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, make_app
from tests.support.signing import body_sha256, twilio_signature

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


# ---------------------------------------------------------------- JSON webhooks (bodySHA256)

JSON_BODY = b'{"CallSid": "CA1", "From": "+15005550006", "To": "+15005550001"}'


@pytest.mark.parametrize("path", ["/voice", STEP])
def test_a_json_webhook_is_answered_only_with_the_body_it_was_signed_for(app: Flask, path: str) -> None:
    # Twilio signs a JSON webhook's URL, bodySHA256 (the body's hash) included, and not the body.
    url = f"{path}{'&' if '?' in path else '?'}bodySHA256={body_sha256(JSON_BODY)}"
    headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, BASE_URL + url)}
    client = app.test_client()
    answered = client.post(url, data=JSON_BODY, headers=headers, content_type="application/json")
    assert answered.status_code == 200 and answered.mimetype == "text/xml"
    for other in (JSON_BODY.replace(b"CA1", b"CA2"), JSON_BODY + b"\n", b"{}", b""):
        refused = client.post(url, data=other, headers=headers, content_type="application/json")
        assert refused.status_code == 403, other


def test_an_sdk_json_vector_passes_the_webhook_stack() -> None:
    # twilio-ruby "should validate with no other GET parameters": the SDKs' body, hash and signature,
    # on the line's own /voice at that address (the signature is the vector's, for its URL).
    app = make_app(PUBLIC_BASE_URL="https://mycompany.com", TWILIO_AUTH_TOKEN="12345")
    body = b'{"property": "value", "boolean": true}'
    path = "/voice?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    signature = twilio_signature("12345", "https://mycompany.com" + path)
    client = app.test_client()
    ok = client.post(
        path, data=body, headers={"X-Twilio-Signature": signature}, content_type="application/json"
    )
    assert ok.status_code == 200
    tampered = body.replace(b"true", b"false")
    no = client.post(
        path, data=tampered, headers={"X-Twilio-Signature": signature}, content_type="application/json"
    )
    assert no.status_code == 403


# ---------------------------------------------------------------- URLs as Twilio signed them


def test_a_webhook_url_with_credentials_is_verified_as_twilio_signed_it(app: Flask) -> None:
    # Configured as http://user:pass@host/voice, Twilio signs that URL and sends Basic credentials.
    client = app.test_client()
    for userinfo, auth in [("user:pass", "user:pass"), ("user", "user:"), ("us%20er:p%40ss", "us er:p@ss")]:
        signed = BASE_URL.replace("://", f"://{userinfo}@") + "/voice"
        headers = {
            "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, signed, PARAMS.items()),
            "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
        }
        assert client.post("/voice", data=PARAMS, headers=headers).status_code == 200, userinfo
        other = {**headers, "Authorization": "Basic " + base64.b64encode(b"user:guess").decode()}
        assert client.post("/voice", data=PARAMS, headers=other).status_code == 403, userinfo


def test_a_query_escaped_otherwise_than_signed_is_accepted_as_the_sdks_do(app: Flask) -> None:
    # twilio-node: a URL signed with ' is valid when it arrives as %27, and the other way round.
    client = app.test_client()
    for signed, sent in [
        ("/voice?campaign=O'Hara", "/voice?campaign=O%27Hara"),
        ("/voice?c=O%27Hara", "/voice?c=O'Hara"),
    ]:
        headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, BASE_URL + signed, PARAMS.items())}
        assert client.post(sent, data=PARAMS, headers=headers).status_code == 200, sent
        assert client.post(sent + "x", data=PARAMS, headers=headers).status_code == 403, sent


# ---------------------------------------------------------------- the dev switch and proxies

FORWARDED = [
    {"X-Forwarded-For": "203.0.113.9"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Host": "abc.ngrok.io"},
    {"X-Forwarded-Port": "443"},
    {"X-Forwarded-Prefix": "/ivr"},
    {"X-Real-IP": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;proto=https"},
    {"Via": "1.1 proxy"},
    {"CF-Connecting-IP": "203.0.113.9"},
    # Headers proxies, CDNs and platforms add that no list of "forwarding headers" named: the rule
    # is an allowlist of what a direct client sends, so these and any header yet unheard of count.
    {"X-Forwarded": "for=203.0.113.9"},
    {"Forwarded-For": "203.0.113.9"},
    {"CDN-Loop": "cloudflare"},
    {"Cf-Ray": "8a1b2c3d4e5f-BOM"},
    {"Fly-Client-IP": "203.0.113.9"},
    {"X-Envoy-External-Address": "203.0.113.9"},
    {"X-Originating-IP": "203.0.113.9"},
    {"X-Remote-Addr": "203.0.113.9"},
    {"X-ProxyUser-Ip": "203.0.113.9"},
    {"X-Azure-ClientIP": "203.0.113.9"},
    {"X-Appengine-User-Ip": "203.0.113.9"},
    {"X-Vercel-Forwarded-For": "203.0.113.9"},
    {"X-Host": "abc.ngrok.io"},
    {"X-Original-URL": "/voice"},
    {"X-Tunnel-Hop-7f3a": "1"},  # a header no one has named
    {"X_Forwarded_For": "203.0.113.9"},  # WSGI spells it as X-Forwarded-For
]


@pytest.mark.parametrize("header", FORWARDED, ids=lambda h: next(iter(h)))
def test_dev_switch_is_refused_to_a_request_a_local_proxy_relayed(
    header: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DEV_SKIP_SIGNATURE=True)
    client = app.test_client()
    assert client.post("/voice", data=PARAMS, headers=header).status_code == 403
    assert any("does not apply" in r.getMessage() and "proxy" in r.getMessage() for r in caplog.records)
    # Still checked, not refused: Twilio's own signature gets through the proxy.
    signature = twilio_signature(AUTH_TOKEN, BASE_URL + "/voice", PARAMS.items())
    signed = client.post("/voice", data=PARAMS, headers={**header, "X-Twilio-Signature": signature})
    assert signed.status_code == 200


def test_dev_switch_is_refused_when_proxy_hops_are_configured(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(DEV_SKIP_SIGNATURE=True, RATELIMIT_PROXY_HOPS=1)
    client = app.test_client()
    # ProxyFix would make this request's address 127.0.0.1 from its header; no header at all either.
    forged = client.post("/voice", data=PARAMS, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 403
    assert client.post("/voice", data=PARAMS).status_code == 403
    assert any("IVR_PROXY_HOPS" in r.getMessage() for r in caplog.records)


# What direct clients send: curl, urllib (the console phone's HttpTransport), and Twilio itself.
DIRECT = [
    {"User-Agent": "curl/8.5.0", "Accept": "*/*", "Expect": "100-continue"},
    {"User-Agent": "Python-urllib/3.12", "Accept-Encoding": "identity", "Connection": "close"},
    {
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
        "Cache-Control": "max-age=259200",
        "Connection": "close",
        "I-Twilio-Idempotency-Token": "9d3f0f1e-0b6d-4d1c-9e7a-1c2b3d4e5f60",
        "X-Home-Region": "us1",
        "X-Twilio-Signature": "not-checked-by-the-dev-switch",
    },
]


@pytest.mark.parametrize("headers", DIRECT, ids=["curl", "urllib", "twilio"])
def test_dev_switch_still_lets_a_direct_client_through(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(DEV_SKIP_SIGNATURE=True).test_client()
    assert client.post("/voice", data=PARAMS, headers=headers).status_code == 200
    assert any("SIGNATURE CHECK SKIPPED" in r.getMessage() for r in caplog.records)


def test_dev_switch_refusal_names_the_header_but_not_its_value(caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(DEV_SKIP_SIGNATURE=True).test_client()
    assert client.post("/voice", data=PARAMS, headers={"Fly-Client-IP": "+919876543210"}).status_code == 403
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "Fly-Client-Ip" in said and "9876543210" not in said
