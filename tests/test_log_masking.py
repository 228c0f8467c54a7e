"""No caller's number in clear in any field of the log, in any way a number is written; and the
digits that are not phone numbers (ports, pids, durations, sizes) left as they are."""

from __future__ import annotations

import html
import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from ivr import logs
from ivr.simulator.server import Gunicorn

pytestmark = pytest.mark.unit

NATIONAL = "9876543210"  # an Indian mobile number's own ten digits, in every spelling below
SPELLINGS = [
    "+919876543210",
    "+91 98765 43210",
    "+91-98765-43210",
    "+91 (98765) 43210",
    "+91.98765.43210",
    "0091 98765 43210",
    "00919876543210",
    "098765 43210",
    "9876543210",
    "%2B919876543210",
    "%2B91%2098765%2043210",
    "+91+98765+43210",  # a form's spaces
    "+९१ ९८७६५ ४३२१०",  # Devanagari digits
    "tel:+919876543210",
    "caller9876543210glued",
    # Any separator that is neither letter nor digit, however encoded, and units glued after.
    "+91_98765_43210",
    "+91 - 98765 - 43210",
    "+91~98765~43210",
    "+91*98765*43210",
    "+91#98765#43210",
    "+91%2C98765%2C43210",
    "+91%0A98765%0A43210",
    "+91%2F98765%2F43210",
    "+91%5F98765%5F43210",
    "%252B91%252098765%252043210",  # encoded twice
    "+91&nbsp;98765&nbsp;43210",
    "&#57;&#56;&#55;&#54;&#53;&#52;&#51;&#50;&#49;&#48;",
    "+91\u200b98765\u200b43210",
    "(98765) (43210)",
    "98765-43210s",
    "9876543210ms",
    "9876543210 secs",
    "987 654 3210 bytes",
    "9876543210%",
    "abc9876543210def",
    "98:76:54:32:10",
    "98.76.54.32.10",
    "９８７６５４３２１０",  # fullwidth
]
NOT_NUMBERS = [
    "Listening at: http://127.0.0.1:45123 (1234)",
    "Listening at: http://0.0.0.0:8000 (4194303)",
    "Booting worker with pid: 1234567",
    "GET http://localhost:8000/healthz and https://line.example:8443/voice",
    "took 1534 ms, then 3600 s; sent 123456 bytes",
    "part 3 of 12, 150 ms, 123456 bytes",
    "at 2026-11-25T10:08:32 from 192.168.100.200",
    "at 2026-11-25T10:08:32.123456+05:30, 10:08:32.123456 and 09:00-17:00",
    "call=CA0123456789abcdef0123456789abcdef caller-0123456789ab",
    "keys 1,2,1,9,*,# at version 3.11.2",
]


def _digits(text: str) -> str:
    """Only the digits, any script's, of the text and of its URL-decoded form."""
    return "".join(str(int(c)) for c in text + unquote_plus(text) if c.isdecimal())


def _strings(value: object) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def assert_no_number(entry: object) -> None:
    for text in _strings(entry):
        assert NATIONAL not in _digits(text), f"a number in clear: {text!r} in {entry!r}"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_number_is_masked_however_it_is_written(spelling: str) -> None:
    masked = logs.mask_numbers(f"caller {spelling} pressed 2")
    assert NATIONAL not in _digits(masked), masked
    assert masked.startswith("caller ") and masked.endswith(" pressed 2") and "<number>" in masked


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_digits_that_are_not_phone_numbers_are_kept(text: str) -> None:
    assert logs.mask_numbers(text) == text


# A number spelt as people and encoders write it: a national number in a usual grouping, perhaps
# with its country code, one separator between groups, its digits in some script, then encoded.
GROUPINGS = [(10,), (5, 5), (3, 3, 4), (4, 3, 3), (2, 4, 4), (2, 2, 2, 2, 2), (3, 7), (4, 6)]
SEPARATORS = [
    " ",
    "-",
    ".",
    "/",
    "_",
    "~",
    "*",
    "#",
    ",",
    ";",
    ":",
    "|",
    " - ",
    ") (",
    " / ",
    "\n",
    "\t",
    "\u00a0",
    "\u200b",
    "\u2009",
    "\u2013",
    "\u3000",
    "%20",
    "%2D",
    "%0A",
    "%5F",
    "&nbsp;",
    "&#45;",
    "+",
]
PREFIXES = ["", "+91", "+91 ", "0091 ", "0", "%2B91", "+91-", "(+91) ", "tel:+91"]
SCRIPTS = ["0123456789", "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９"]
ENCODINGS: list[Callable[[str], str]] = [
    lambda t: t,
    quote,
    lambda t: quote(quote(t)),
    html.escape,
    lambda t: "".join(f"&#{ord(c)};" for c in t),
]


@st.composite
def spelt_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(national digits, how they are written)."""
    national = draw(st.from_regex(r"\A[6-9][0-9]{9}\Z"))
    grouping = draw(st.sampled_from(GROUPINGS))
    sep = draw(st.sampled_from(SEPARATORS))
    groups, at = [], 0
    for size in grouping:
        groups.append(national[at : at + size])
        at += size
    script = str.maketrans("0123456789", draw(st.sampled_from(SCRIPTS)))
    text = draw(st.sampled_from(PREFIXES)) + sep.join(group.translate(script) for group in groups)
    return national, draw(st.sampled_from(ENCODINGS))(text)


AROUND = st.text(st.characters(blacklist_categories=["Nd", "No", "Cs"]), max_size=20) | st.sampled_from(
    ["GET /x/", "?n=", "CallStatus=", "User-Agent: Phone ", "ms", "s", " secs", " bytes", "%", "abc", "def"]
)


@pytest.mark.unit
@given(spelt_numbers(), AROUND, AROUND)
def test_any_spelling_of_a_number_in_any_text_is_masked(
    number: tuple[str, str], before: str, after: str
) -> None:
    national, spelt = number
    masked = logs.mask_numbers(before + spelt + after)
    assert national not in _digits(masked), (before + spelt + after, masked)
    assert "<number>" in masked


KEPT = st.one_of(
    st.builds("CA{}".format, st.from_regex(r"\A[0-9a-f]{32}\Z")),
    st.from_regex(r"\A[0-9a-f]{64}\Z"),
    st.builds("{}.{}.{}.{}:{}".format, *[st.integers(0, 255)] * 4, st.integers(1, 65535)),
    st.builds("http://127.0.0.1:{} ({})".format, st.integers(1, 65535), st.integers(1, 4194304)),
    st.builds("localhost:{} ({})".format, st.integers(1, 65535), st.integers(1, 4194304)),
    st.builds("pid: {}".format, st.integers(1, 4194304)),
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.isoformat()),
)


@pytest.mark.unit
# Not after a "+": "+ 2026-01-01" reads as an international number, and is masked.
@given(KEPT, AROUND.filter(lambda t: "+" not in t[-6:]), st.sampled_from(["", " ", ", ", ") "]))
def test_ports_pids_sids_dates_and_addresses_stay_readable(kept: str, before: str, after: str) -> None:
    text = f"{before} {kept}{after}"
    assert logs.mask_numbers(text) == text


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_field_of_a_record_is_masked_at_any_depth(log_stream: io.StringIO, spelling: str) -> None:
    log = logging.getLogger("ivr.test")
    extra = {
        "caller": spelling,
        "nested": {"calls": [{"from": spelling}], spelling: 1},
        "as_int": 919876543210,
    }
    log.warning("caller %s said %r", spelling, {"to": spelling}, extra=extra, stack_info=True)
    try:
        raise ValueError(f"bad number {spelling}")
    except ValueError:
        log.exception("failed for %s", spelling)
    first, second = (json.loads(line) for line in log_stream.getvalue().splitlines())
    assert set(first["extra"]) == {"caller", "nested", "as_int"}, "extra fields are written, masked"
    assert first["extra"]["as_int"] == "<number>"
    assert "ValueError: bad number " in second["exc"] and "<number>" in second["exc"]
    for entry in (first, second):
        assert_no_number(entry)


def test_an_access_line_masks_each_atom_and_keeps_status_and_size_apart() -> None:
    stream = io.StringIO()
    handler = logs.LineHandler(stream, "json")
    atoms: dict[str, Any] = {
        "m": "GET",
        "U": "/voice/+919876543210",
        "q": "From=%2B919876543210&x=+91+98765+43210",
        "s": "200",
        "b": "4567",
        "D": 12345678,
        "r": "GET /voice/+919876543210?From=%2B919876543210 HTTP/1.1",
        "f": "https://example.org/0091-98765-43210",
        "a": "phone 098765 43210",
        "{" + logs.STEP_ENVIRON + "}e": {"CallSid": "+919876543210", "node": "main"},
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(s)s %(b)s', (), None)
    record.args = atoms
    handler.handle(record)
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert_no_number(entry)
    assert entry["message"].endswith('HTTP/1.1" 200 4567'), "a status and a size are not a number"
    assert entry["http"]["path"] == "/voice/<number>" and entry["http"]["ms"] == 12345.68
    assert entry["http"]["query"] == "From=<number>&x=<number>"
    assert entry["CallSid"] == "<number>" and entry["call"] == {"node": "main"}


@pytest.mark.parametrize(
    "spelling", ["+91_98765_43210", "+91%2C98765%2C43210", "98765-43210s", "9876543210s"]
)
def test_an_access_line_masks_every_atom_however_the_number_is_spelt(spelling: str) -> None:
    stream = io.StringIO()
    handler = logs.LineHandler(stream, "json")
    atoms: dict[str, Any] = {
        "m": "GET",
        "U": f"/x/{spelling}",
        "q": f"n={spelling}",
        "s": "200",
        "b": "4567",
        "r": f"GET /{spelling}?n={spelling} HTTP/1.1",
        "a": f"Phone {spelling}",
        "{user-agent}i": f"Phone {spelling}",
        "{" + logs.STEP_ENVIRON + "}e": {"CallSid": spelling, "CallStatus": spelling, "node": "main"},
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(s)s %(a)s', (), None)
    record.args = atoms
    handler.handle(record)
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert_no_number(entry)
    assert entry["http"]["path"].startswith("/x/<number>") and entry["http"]["query"].startswith("n=<number>")


def test_an_access_line_masks_the_header_and_environ_atoms_its_format_names() -> None:
    """An operator's access_log_format may write a request header or an environ key: masked too."""
    atoms: dict[str, Any] = {
        "m": "POST",
        "U": "/voice",
        "s": "200",
        "{user-agent}i": "Phone +91 98765 43210",
        "{x-caller}o": "09876543210",
        "{REMOTE_USER}e": "+919876543210",
    }
    entry = _access_entry("%({user-agent}i)s %({x-caller}o)s %({REMOTE_USER}e)s %(s)s", atoms)
    assert_no_number(entry)
    assert entry["message"] == "Phone <number> <number> <number> 200"


def _access_entry(access_format: str, atoms: dict[str, Any]) -> dict[str, Any]:
    """The JSON entry the line's handler writes for one gunicorn access record."""
    stream = io.StringIO()
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, access_format, (), None)
    record.args = atoms
    logs.LineHandler(stream, "json").handle(record)
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert isinstance(entry, dict)
    return entry


# The real server: gunicorn writing JSON lines, sent numbers every way a client can.

PUBLIC = "https://line.example"
TOKEN = "masking-token"


def _send(
    base_url: str, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> int:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(base_url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def _signed(path: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)}


@pytest.mark.system
@pytest.mark.slow
def test_gunicorn_logs_no_number_from_any_part_of_any_request(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
    }
    number = "+919876543210"
    call = {"CallSid": "CAmasking0", "From": number, "To": "+15005550001"}
    with Gunicorn("app:app", workers=1, env=env, log_path=tmp_path / "gunicorn.log") as server:
        base = server.base_url
        paths = [
            "/voice/+919876543210",
            "/staff/calls/%2B919876543210",
            "/hi/topics/0091%2098765%2043210",
            "/audio/+91-98765-43210.wav",
            "/?From=%2B919876543210&to=+91+98765+43210",
            "/healthz?caller=00919876543210",
            "/staff/login?next=/staff/calls/+91%2098765%2043210",
        ]
        for path in paths:
            assert _send(base, path) in (200, 302, 404, 405)
        for path in [
            "/+91_98765_43210",
            "/x/98765-43210s",
            "/voice/step?n=+91_98765_43210",
            "/?n=+91%2C98765%2C43210",
        ]:
            assert _send(base, path, {"CallSid": "+91_98765_43210", "CallStatus": "9876543210s"}) in (
                403,
                404,
                405,
            )
        forged = {"CallSid": number, "From": number, "Digits": "98765 43210"}
        sneaky = {"Referer": "https://x.example/0091-98765-43210", "User-Agent": "Phone +91_98765_43210"}
        assert _send(base, "/voice", forged, {"X-Twilio-Signature": number, **sneaky}) == 403
        assert _send(base, "/voice?From=%2B919876543210", forged) == 403
        assert _send(base, "/voice", call, _signed("/voice", call)) == 200
        fallback = {**call, "CallSid": "CA" + number, "ErrorUrl": PUBLIC + "/voice?n=+91_98765_43210"}
        fallback["ErrorCode"] = "+91_98765_43210"
        assert _send(base, "/voice/fallback", fallback, _signed("/voice/fallback", fallback)) == 200
        assert _send(base, "/staff/login", {"username": number, "password": "x"}) == 400
        port = server.port
    lines = [line for line in server.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is JSON
    for entry in entries:
        assert_no_number(entry)
    access = [e for e in entries if e["logger"] == "gunicorn.access"]
    assert {"/voice/<number>", "/staff/calls/<number>", "/audio/<number>.wav"} <= {
        e["http"]["path"] for e in access
    }
    assert any(e["http"].get("query") == "From=<number>&to=<number>" for e in access)
    assert any(e.get("CallSid") == "CA<number>" for e in entries), "the fallback's line, masked"
    listening = [e["message"] for e in entries if e["message"].startswith("Listening at:")]
    assert listening and all(f"http://127.0.0.1:{port} (" in m for m in listening), listening
