"""The quick form parser gives every webhook exactly the form werkzeug would have given it."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from ivr.phone.forms import WebhookRequest, form_pairs
from tests.support.fuzz import TWILIO_FIELDS

pytestmark = pytest.mark.unit

# Text made of what urlencoding is made of, and what it should not contain but might.
URLISH = st.text(alphabet=st.sampled_from("ab=&+%2Fe9C3A%20%zZ\u00e9\u0939\x00 ;#?"), max_size=60)


def _werkzeug(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")


@given(URLISH | st.text(max_size=40))
def test_pairs_are_those_werkzeug_finds(text: str) -> None:
    assert form_pairs(text) == _werkzeug(text)


@pytest.mark.parametrize(
    ("body", "pairs"),
    [
        ("From=%2B447700900123&Digits=1", [("From", "+447700900123"), ("Digits", "1")]),
        ("SpeechResult=main+menu&Confidence=0.9", [("SpeechResult", "main menu"), ("Confidence", "0.9")]),
        ("Digits=&FinishedOnKey", [("Digits", ""), ("FinishedOnKey", "")]),
        ("a=%FF&&b=1=2", [("a", "%FF"), ("b", "1=2")]),  # not UTF-8: kept quoted, as werkzeug does
        ("Digits=1&Digits=2", [("Digits", "1"), ("Digits", "2")]),
    ],
)
def test_twilio_like_bodies(body: str, pairs: list[tuple[str, str]]) -> None:
    assert form_pairs(body) == pairs == _werkzeug(body)


def _environ(body: bytes, **overrides: Any) -> dict[str, Any]:
    environ: dict[str, Any] = EnvironBuilder(
        path="/voice/step", method="POST", data=body, content_type="application/x-www-form-urlencoded"
    ).get_environ()
    environ.update(overrides)
    return environ


def _form(request_class: type[WerkzeugRequest], environ: dict[str, Any], limit: int | None) -> Any:
    request = request_class({**environ, "wsgi.input": io.BytesIO(environ["wsgi.input"].getvalue())})
    request.max_content_length = limit
    try:
        return sorted(request.form.items(multi=True))
    except HTTPException as exc:  # 413, or 400 for a body shorter than it said
        return type(exc)


class LimitedWerkzeugRequest(WerkzeugRequest):
    """werkzeug's own request, with a settable size limit as Flask's has."""

    max_content_length: int | None = None


@given(
    st.lists(st.tuples(st.sampled_from([*TWILIO_FIELDS, "x y", "é"]), st.text(max_size=30)), max_size=12),
    st.binary(max_size=8),
)
def test_a_request_gets_the_form_werkzeug_would_give(fields: list[tuple[str, str]], junk: bytes) -> None:
    body = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in fields).encode() + junk
    environ = _environ(body)
    assert _form(WebhookRequest, environ, 65536) == _form(LimitedWerkzeugRequest, environ, 65536)


def test_a_body_over_the_limit_is_refused_with_413() -> None:
    environ = _environ(b"Digits=1&SpeechResult=" + b"a" * 2000)
    assert _form(WebhookRequest, environ, 1000) is RequestEntityTooLarge


def test_a_body_shorter_than_its_length_is_a_400_not_a_hang() -> None:
    environ = _environ(b"Digits=1", CONTENT_LENGTH="100")
    assert _form(WebhookRequest, environ, 65536) is _form(LimitedWerkzeugRequest, environ, 65536)
    assert issubclass(_form(WebhookRequest, environ, 65536), BadRequest)


def test_other_bodies_take_werkzeugs_path() -> None:
    environ = _environ(b"", CONTENT_TYPE="multipart/form-data; boundary=x")
    assert _form(WebhookRequest, environ, 65536) == []
