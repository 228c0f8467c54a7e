"""The line accepts exactly the signatures Twilio's SDKs accept: every request vector of their unit
tests (tests/data/twilio-signature-vectors.json: python, node, ruby, java, csharp, php, go) gets the
SDK's verdict from `verify`, and the same kinds of URL beyond the vectors do too."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from ivr.phone.signature import Verdict, verify
from tests.support.signing import (
    Vector,
    body_hash_vectors,
    body_sha256,
    request_vectors,
    twilio_signature,
)

pytestmark = pytest.mark.unit

VECTORS = request_vectors()
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
JSON_BODY = b'{"property": "value", "boolean": true}'
FORM = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309")]


def _check(
    url: str, signature: str, params: list[tuple[str, str]] = FORM, body: bytes | None = None
) -> Verdict:
    headers = {"X-Twilio-Signature": signature}
    return verify(url, MultiDict(params), headers, auth_token=TOKEN, shared_keys={}, body=body)


def test_the_vectors_cover_every_sdk_and_both_verdicts() -> None:
    repos = {v.source.split()[0] for v in VECTORS}
    assert repos == {
        f"twilio/twilio-{sdk}" for sdk in ("python", "node", "ruby", "java", "csharp", "php", "go")
    }
    assert sum(v.valid for v in VECTORS) > 40 and sum(not v.valid for v in VECTORS) > 15


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_every_sdk_request_vector_gets_the_sdks_verdict(vector: Vector) -> None:
    headers = {"X-Twilio-Signature": vector.signature}
    verdict = verify(
        vector.url,
        MultiDict(vector.params),
        headers,
        auth_token=vector.token,
        shared_keys={},
        body=vector.body,
    )
    assert verdict.ok is vector.valid, verdict.reason


@pytest.mark.parametrize("check", body_hash_vectors(), ids=lambda c: f"{c['source'].split()[0]}: {c['test']}")
def test_every_sdk_body_hash_vector_gets_the_sdks_verdict(check: dict[str, object]) -> None:
    # The SDKs' validateBody(body, hash), as the line meets it: the hash in a signed URL.
    url = f"https://mycompany.com/myapp.php?bodySHA256={check['hash']}"
    body = str(check["body"]).encode()
    assert _check(url, twilio_signature(TOKEN, url), [], body).ok is check["valid"]


# ---------------------------------------------------------------- bodySHA256: the body must match

SIGNED_JSON_URL = f"{URL}&bodySHA256={body_sha256(JSON_BODY)}"
SIGNED_JSON = "a9nBmqA0ju/hNViExpshrM61xv4="  # twilio-python test_validation_of_body_succeeds


@pytest.mark.parametrize(
    "body",
    [
        JSON_BODY.replace(b"value", b"other"),
        JSON_BODY + b" ",
        JSON_BODY.upper(),
        b"",
        None,  # no body read at all
    ],
)
def test_a_url_signed_with_its_body_hash_refuses_any_other_body(body: bytes | None) -> None:
    assert _check(SIGNED_JSON_URL, SIGNED_JSON, [], JSON_BODY).ok
    verdict = _check(SIGNED_JSON_URL, SIGNED_JSON, [], body)
    assert not verdict.ok and "bodySHA256" in verdict.reason


@pytest.mark.parametrize(
    "url",
    [
        f"{URL}&bodySHA256=",  # a blank hash is still a hash, and no body has it
        f"{SIGNED_JSON_URL}&bodySHA256=0000",  # a second, different hash
        f"{URL}&bodySHA256={body_sha256(JSON_BODY).upper()}",  # Twilio writes lower-case hex
    ],
)
def test_a_signed_url_whose_body_hash_is_not_the_bodys_is_refused(url: str) -> None:
    assert not _check(url, twilio_signature(TOKEN, url), [], JSON_BODY).ok


def test_form_fields_do_not_count_for_a_json_webhook() -> None:
    # Twilio signs only the URL of a JSON webhook: fields added to the form change nothing.
    assert _check(SIGNED_JSON_URL, SIGNED_JSON, [("Digits", "9")], JSON_BODY).ok


# ---------------------------------------------------------------- ports, beyond the vectors


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        # credentials and a custom port: twilio-python's remove_port cuts the netloc at the first ':'
        (
            "https://user:pass@mycompany.com/myapp.php?foo=1",
            "https://user:pass@mycompany.com:8443/myapp.php?foo=1",
        ),
        ("https://user@mycompany.com/myapp.php?foo=1", "https://user@mycompany.com:8443/myapp.php?foo=1"),
        ("https://[2001:db8::1]/myapp.php?foo=1", "https://[2001:db8::1]:8443/myapp.php?foo=1"),
        ("https://[2001:db8::1]:443/myapp.php?foo=1", "https://[2001:db8::1]/myapp.php?foo=1"),
        ("HTTPS://MyCompany.com:443/myapp.php", "HTTPS://MyCompany.com/myapp.php"),
        ("http://mycompany.com:80/myapp.php", "http://mycompany.com/myapp.php"),
        ("https://mycompany.com/myapp.php", "https://mycompany.com:1234/myapp.php"),
    ],
)
def test_the_port_is_toggled_wherever_the_url_puts_it(signed: str, received: str) -> None:
    assert _check(received, twilio_signature(TOKEN, signed, FORM)).ok


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("https://mycompany.com:8443/myapp.php", "https://mycompany.com:1234/myapp.php"),  # another port
        ("http://mycompany.com:443/myapp.php", "http://mycompany.com/myapp.php"),  # not http's port
        ("https://user:pass@mycompany.com/myapp.php", "https://user:other@mycompany.com/myapp.php"),
        ("https://user:pass@mycompany.com/myapp.php", "https://mycompany.com/myapp.php"),
        ("https://mycompany.com/myapp.php", "https://mycompany.com/myapp.php/"),
        ("https://mycompany.com/Myapp.php", "https://mycompany.com/myapp.php"),
    ],
)
def test_other_urls_are_refused(signed: str, received: str) -> None:
    assert not _check(received, twilio_signature(TOKEN, signed, FORM)).ok


# ---------------------------------------------------------------- escaping in the query


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("?name=O'Hara&x=1", "?name=O%27Hara&x=1"),
        ("?name=O%27Hara", "?name=O'Hara"),
        ("?q=a%20b", "?q=a+b"),  # Node's querystring writes a space as %20
        ("?q=%22quoted%22%3Ctag%3E", '?q="quoted"<tag>'),  # WHATWG escapes these in a query
        ("?q=%C3%A9", "?q=é"),  # and non-ASCII, as UTF-8
        ("?b=2&b=3&a=1", "?b=2&a=1&b=3"),  # querystring groups a repeated name's values
    ],
)
def test_the_query_may_be_escaped_as_twilio_node_allows(signed: str, received: str) -> None:
    base = "https://mycompany.com/myapp.php"
    assert _check(base + received, twilio_signature(TOKEN, base + signed, FORM)).ok


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("?q=a%2Bb", "?q=a+b"),  # an escaped '+' is a plus, not a space
        ("?q=a+b", "?q=a%20b"),
        ("?q=O'Hara", "?q=O'Hare"),
        ("?a=1&b=2", "?b=2&a=1"),  # the order of different names is the URL's
        ('?q="quoted"', "?q=%22quoted%22"),  # only ' is written back unescaped by querystring
    ],
)
def test_a_query_that_means_something_else_is_refused(signed: str, received: str) -> None:
    base = "https://mycompany.com/myapp.php"
    assert not _check(base + received, twilio_signature(TOKEN, base + signed, FORM)).ok


# ---------------------------------------------------------------- repeated fields


def test_repeated_fields_count_each_value_once_sorted() -> None:
    # twilio-php testValidateWithArrayAndDuplicates, and the same form in any order.
    signature = "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    fields = [
        ("Digits", "1234"),
        ("Sid", "CA123"),
        ("Digits", "5678"),
        ("SidAccount", "AC123"),
        ("Digits", "1234"),
    ]
    assert _check(URL, signature, fields).ok
    assert not _check(URL, signature, [*fields, ("Digits", "9")]).ok
    assert not _check(URL, signature, [f for f in fields if f != ("Digits", "5678")]).ok
