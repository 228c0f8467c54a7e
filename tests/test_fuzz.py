"""Property tests of every webhook: whatever Twilio (or anyone) sends, the reply is TwiML or a clear 4xx.

Signed requests reach the handlers (X-Twilio-Signature from Twilio's RequestValidator) with random
keys, speech (unicode, huge, empty), random, missing and repeated parameters, and random action-URL
state. A handler that raised (and so fell back to the safe reply) fails the test too.
Examples per test: the hypothesis profile (tests/conftest.py; HYPOTHESIS_PROFILE=dev, ci or bench).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import event, given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from ivr import services
from tests.support.app import AUTH_TOKEN, BASE_URL, make_app
from tests.support.fuzz import TWILIO_FIELDS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRONG_METHODS = ("GET", "PUT", "DELETE", "PATCH")
STATE_KEYS = ("n", "p", "s", "m", "l", "r", "w", "v", "b", "t", "k", "c", "empty")


class Crashes(logging.Handler):
    """Collects records logged with a traceback: a webhook that raised and sent the safe reply."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_app() -> Flask:
    # No rate limits (make_app's default): thousands of requests from one address would hear "busy".
    return make_app(OPERATOR_NUMBER="+441234567890")


@pytest.fixture(scope="module")
def crashes() -> Iterator[Crashes]:
    handler = Crashes()
    logger = logging.getLogger("ivr")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _webhooks() -> list[str]:
    """Every POST route of the voice blueprint, new ones included."""
    app = make_app()
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("voice.") and "POST" in (rule.methods or ())
    )


WEBHOOKS = _webhooks()


def _nodes() -> list[str]:
    app = make_app()
    tree = services.line(app).content.tree
    return [*tree.menus, *getattr(tree, "sections", {}), "_language", "_emergency"]


NODES = _nodes()

# Text a client can send: any character that UTF-8 can carry (not a lone surrogate, which no HTTP
# client can encode; bytes that are not UTF-8 at all have tests of their own below).
huge_text = st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1_000, 60_000))
speech = st.one_of(
    st.text(max_size=60), st.just(""), st.sampled_from(["symptoms", "hindi", "रोको", "main menu"]), huge_text
)
digits = st.one_of(st.text(alphabet="0123456789*#wW ", max_size=8), st.text(max_size=20))
small_int = st.one_of(st.integers(-3, 12).map(str), st.text(max_size=4))
state_value = {
    "n": st.one_of(st.sampled_from(NODES), st.text(max_size=12)),
    "b": st.one_of(st.sampled_from(["", *NODES]), st.text(max_size=8)),
    "l": st.one_of(st.sampled_from(["en", "hi", "", "xx"]), st.text(max_size=4)),
    "v": st.one_of(st.integers(0, 2**12).map(lambda i: format(i, "x")), st.text(max_size=6)),
    "t": st.sampled_from(["1", "0", ""]),
}


@st.composite
def queries(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Action-URL state: mostly plausible, sometimes nonsense, keys missing or repeated."""
    pairs = []
    for key in STATE_KEYS:
        if draw(st.integers(0, 9)) < 7:
            pairs.append((key, draw(state_value.get(key, small_int))))
    pairs += draw(st.lists(st.tuples(st.sampled_from(STATE_KEYS), small_int), max_size=3))  # repeats
    pairs += draw(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.text(max_size=10)), max_size=2))
    return pairs


@st.composite
def forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    """POST parameters: Twilio's names with random values, some missing, some twice, some unknown."""
    pairs: list[tuple[str, str]] = []
    if draw(st.booleans()):
        pairs.append(("CallSid", draw(st.one_of(st.just("CA" + "0" * 32), st.text(max_size=70)))))
    if draw(st.booleans()):
        number = st.one_of(
            st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True), st.sampled_from(["anonymous", ""])
        )
        pairs.append(("From", draw(st.one_of(number, st.text(max_size=20)))))
    if draw(st.booleans()):
        pairs.append(("Digits", draw(digits)))
    if draw(st.booleans()):
        pairs.append(("SpeechResult", draw(speech)))
    fields = st.sampled_from(TWILIO_FIELDS)
    pairs += draw(st.lists(st.tuples(fields, st.one_of(st.text(max_size=30), small_int)), max_size=6))
    pairs += draw(st.lists(st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=10)), max_size=2))
    return pairs


def _assert_twiml_or_4xx(path: str, status: int, mimetype: str, body: str) -> None:
    assert status < 500, f"{status} from {path}"
    if 400 <= status < 500:
        return
    if path.startswith("/voice/status"):
        assert status == 204 and body == "", "the status callback answers with no content"
        return
    assert status == 200 and mimetype == "text/xml", (status, mimetype)
    root = ET.fromstring(body)
    assert root.tag == "Response"
    children = list(root)
    for i, verb in enumerate(children):
        if verb.tag == "Gather":
            assert verb.get("action"), "a Gather without an action"
            assert i + 1 < len(children) and children[i + 1].tag == "Redirect", "no Redirect after a Gather"


def _signed_post(app: Flask, path: str, form: list[tuple[str, str]]) -> tuple[int, str, str]:
    params = MultiDict(form)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + path, params)
    response = app.test_client().post(path, data=params, headers={"X-Twilio-Signature": signature})
    return response.status_code, response.mimetype or "", response.get_data(as_text=True)


@pytest.mark.parametrize("webhook", WEBHOOKS)
@given(query=queries(), form=forms())
def test_signed_requests_get_twiml_or_a_4xx(
    fuzz_app: Flask, crashes: Crashes, webhook: str, query: list[tuple[str, str]], form: list[tuple[str, str]]
) -> None:
    crashes.records.clear()
    path = webhook + (f"?{urlencode(query)}" if query else "")
    status, mimetype, body = _signed_post(fuzz_app, path, form)
    event(f"HTTP {status}")
    _assert_twiml_or_4xx(path, status, mimetype, body)
    assert not crashes.records, crashes.records[0].getMessage() + "\n" + str(crashes.records[0].exc_text)


@pytest.mark.parametrize("webhook", WEBHOOKS)
@given(form=forms(), signature=st.one_of(st.none(), st.text(max_size=40)))
def test_unsigned_or_forged_requests_are_refused(
    fuzz_app: Flask, webhook: str, form: list[tuple[str, str]], signature: str | None
) -> None:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    try:
        response = fuzz_app.test_client().post(webhook, data=MultiDict(form), headers=headers)
    except ValueError:  # the test client itself refuses header values with newlines
        return
    assert response.status_code in (403, 413)  # 413: a body too large is refused before it is read


@pytest.mark.parametrize("webhook", WEBHOOKS)
@given(method=st.sampled_from(WRONG_METHODS), query=queries())
def test_wrong_methods_get_405(
    fuzz_app: Flask, webhook: str, method: str, query: list[tuple[str, str]]
) -> None:
    response = fuzz_app.test_client().open(webhook + f"?{urlencode(query)}", method=method)
    assert response.status_code == 405


@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "multipart/form-data; boundary=x",
            "text/plain",
        ]
    ),
)
def test_raw_bodies_never_cause_a_server_error(fuzz_app: Flask, body: bytes, content_type: str) -> None:
    for webhook in WEBHOOKS:
        response = fuzz_app.test_client().post(webhook, data=body, headers={"Content-Type": content_type})
        assert response.status_code < 500


@pytest.mark.parametrize("webhook", WEBHOOKS)
@given(raw=st.binary(max_size=60), form=forms())
def test_raw_query_bytes_are_handled(
    fuzz_app: Flask, crashes: Crashes, webhook: str, raw: bytes, form: list[tuple[str, str]]
) -> None:
    # Bytes as a client may send them: not percent-encoded, not even UTF-8. Signed like the app
    # reads them back (invalid UTF-8 replaced), so that the request reaches the handler.
    crashes.records.clear()
    query = raw.replace(b"#", b"").replace(b" ", b"+")
    path = webhook + "?" + query.decode("utf-8", "replace")
    params = MultiDict(form)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + path, params)
    environ = {"QUERY_STRING": query.decode("latin-1")}
    response = fuzz_app.test_client().post(
        webhook, data=params, headers={"X-Twilio-Signature": signature}, environ_overrides=environ
    )
    _assert_twiml_or_4xx(
        webhook, response.status_code, response.mimetype or "", response.get_data(as_text=True)
    )
    assert not crashes.records, crashes.records[0].getMessage() + "\n" + str(crashes.records[0].exc_text)
