"""One caller, one call, one recording, however Twilio's fields are spelt: a number written with
spaces, dashes, 00 or a trunk 0 is one number (one daily text cap, one call-back number); a
withheld or junk number is never called or texted back; a CallSid, RecordingSid or status word in
another case or with spaces is the same one. On real SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.numbers import caller_number
from ivr.simulator import FlaskTransport, Phone
from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, answer, indian_mobile, make_app
from tests.support.replay import deliver, waiting_action
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.twiml import assert_valid_twiml, spoken

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
PHRASES = {lang: CONTENT.prompts[lang].phrases for lang in ("en", "hi")}
EN = PHRASES["en"]
TO_CAUSES = "".join(TREE.keys_to("causes"))
# The red team's request: 8 (a text) at the first part of the medicines topic.
TOPIC_STEP = "/voice/step?n=drug_therapy&p=0&s=0&m=0&l=en&r=0&w=0&v=5&f=f"


def spellings(e164: str) -> list[str]:
    """An Indian mobile (+91 and 10 digits) as people and carriers write it."""
    n = e164.removeprefix("+91")
    return [
        e164,
        f"+910{n}",  # the trunk 0 kept after the country code
        f"+91 {n[:5]} {n[5:]}",
        f"0091-{n[:5]}-{n[5:]}",  # 00, the international prefix, for +
        f"+91 ({n[:3]}) {n[3:6]}-{n[6:]}",
        f"tel:+91-{n}",
        f" +91.{n[:5]}.{n[5:]} ",
        f"0091 0{n}",
    ]


# Withheld in any spelling, or not a number the line can reach: never called or texted back.
UNREACHABLE = [
    "266696687",  # ANONYMOUS on a keypad, without its +
    "+266696687",
    "0000000",
    "+000000000",
    "7378742833",  # RESTRICTED
    "+1 737 874 2833",
    "8656696",  # UNKNOWN
    "+86282452253",  # UNAVAILABLE
    "2562533",  # BLOCKED
    "Anonymous",
    " RESTRICTED ",
    "private",
    "unavailable",
    "",
    "client:alice",
    "sip:alice@example.com",
    "+15551234567",  # not a number of any plan
    "9876543210",  # no country code: whose is it?
    "+919876543210 ext. 12",
]


def said(body: str) -> list[str]:
    assert_valid_twiml(body)
    return spoken(ET.fromstring(body))


def rows(app: Flask, table: str, where: str = "1=1", **params: str) -> list[dict[str, Any]]:
    with services.store(app).engine.connect() as conn:
        found = conn.execute(text(f"SELECT * FROM {table} WHERE {where}"), params)
        return [dict(r._mapping) for r in found]


def new_call(app: Flask, keys: str, lang_key: str = "1") -> Phone:
    """A call from an Indian mobile that chose a language and pressed `keys` from the main menu."""
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    answer(phone, lang_key)
    for key in keys:
        phone.press(key)
    return phone


# Caller numbers ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_every_spelling_of_a_number_reads_as_its_e164_form() -> None:
    number = indian_mobile()
    assert {caller_number(s).reachable for s in spellings(number)} == {number}
    assert {caller_number(s).identity for s in spellings(number)} == {number}


@pytest.mark.unit
@pytest.mark.parametrize("raw", UNREACHABLE)
def test_withheld_and_junk_numbers_are_never_reachable(raw: str) -> None:
    assert caller_number(raw).reachable is None


@pytest.mark.integration
def test_one_number_spelt_many_ways_gets_the_daily_text_cap_once(database_url: str) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake, SMS_DAILY_LIMIT=3)
    number = indian_mobile()
    client = SignedClient(app)
    told = []
    for spelt in spellings(number):
        client.caller, client.call_sid = spelt, SignedClient(app).call_sid  # a new call each time
        status, root = client.post(TOPIC_STEP, {"Digits": "8"})
        assert status == 200 and root is not None
        told.append(spoken(root)[0])
    assert told == [EN.sms_sent] * 3 + [EN.sms_capped] * 5
    assert [m.data["To"] for m in fake.sent] == [number] * 3, "texts go to the number in E.164"
    assert [r["to_number"] for r in rows(app, "sms_outbox")] == [number] * 3
    assert [r["texts"] for r in rows(app, "sms_quota")] == [3], "one pseudonym, one cap, every spelling"


@pytest.mark.integration
def test_a_caller_is_remembered_whichever_way_their_number_is_spelt(database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url)
    number = indian_mobile()
    first, *others = spellings(number)
    answer(
        Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=first), "2", remember=True
    )
    for spelt in others:
        again = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=spelt).dial()
        assert again.says and {h.language for h in again.heard} == {"hi-IN"}, f"{spelt!r}: Hindi, remembered"


@pytest.mark.integration
@pytest.mark.parametrize("at", [1, 2, 3, 4, 6, 7])
def test_a_call_back_goes_to_the_number_in_e164_however_from_spells_it(database_url: str, at: int) -> None:
    app = make_app(DATABASE_URL=database_url)
    phone = new_call(app, "0")  # no one set up: a call back or a question
    number = indian_mobile()
    reply = deliver(app, phone, waiting_action(phone), {"Digits": "1", "From": spellings(number)[at]})[0]
    assert reply[0] == 200
    heard = said(reply[1])
    assert heard[0].startswith("Thank you. We will ask") and " ".join(number[-4:]) in heard[0], heard
    booked = rows(app, "callbacks", "call_sid = :c", c=phone.call_sid)
    assert [r["callback_number"] for r in booked] == [number]


@pytest.mark.integration
@pytest.mark.parametrize("lang_key", ["1", "2"], ids=["english", "hindi"])
@pytest.mark.parametrize("raw", UNREACHABLE)
def test_no_call_back_or_text_to_a_withheld_or_junk_number_and_the_caller_is_told(
    database_url: str, raw: str, lang_key: str
) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    phrases = PHRASES["en" if lang_key == "1" else "hi"]
    at_choices, in_topic = new_call(app, "0", lang_key), new_call(app, TO_CAUSES, lang_key)
    for phone, key in ((at_choices, "1"), (in_topic, "8")):
        reply = deliver(app, phone, waiting_action(phone), {"Digits": key, "From": raw})[0]
        assert reply[0] == 200
        assert said(reply[1])[0] == phrases.no_number, "the caller is not told a call back or text is coming"
    assert rows(app, "callbacks", "call_sid = :c", c=at_choices.call_sid) == []
    assert rows(app, "sms_outbox", "call_sid = :c", c=in_topic.call_sid) == []
    assert fake.sent == []


# SIDs and status words ---------------------------------------------------------------------------

SID = "RE0123456789abcdef0123456789abcdef"


@pytest.mark.integration
def test_one_recording_is_kept_once_however_its_sid_and_url_are_spelt(database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url)
    phone = new_call(app, "02")  # record a question
    action = waiting_action(phone)
    url = f"https://api.twilio.com/2010-04-01/Accounts/{phone.account_sid}/Recordings/{SID}"
    shouting = "RE" + SID[2:].upper()
    forms = [
        {"RecordingSid": SID, "RecordingUrl": url},
        {"RecordingSid": shouting, "RecordingUrl": url},
        {"RecordingSid": "re" + SID[2:], "RecordingUrl": url},
        {"RecordingSid": f" {SID}\n", "RecordingUrl": url},
        {"RecordingUrl": url + ".mp3"},
        {"RecordingUrl": url + "?foo=1"},
        {"RecordingUrl": url + ".wav?Download=true#t=0"},
        {"RecordingUrl": url + "/"},
        {"RecordingSid": "", "RecordingUrl": url.replace(SID, shouting) + ".json"},
    ]
    for form in forms:
        reply = deliver(app, phone, action, {**form, "RecordingDuration": "14", "Digits": "#"})[0]
        assert reply[0] == 200 and any(s.startswith("Thank you") for s in said(reply[1])), form
    kept = rows(app, "recordings", "call_sid = :c", c=phone.call_sid)
    assert [(r["recording_sid"], r["duration_seconds"]) for r in kept] == [(SID, 14)]


@pytest.mark.integration
def test_a_recording_sid_that_contradicts_its_url_is_kept_as_the_urls_and_logged(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DATABASE_URL=database_url)
    phone = new_call(app, "02")
    action = waiting_action(phone)
    other = "RE" + "f" * 32
    url = f"https://api.twilio.com/2010-04-01/Accounts/{phone.account_sid}/Recordings/{SID}"
    for form in ({"RecordingSid": other, "RecordingUrl": url}, {"RecordingSid": SID, "RecordingUrl": url}):
        assert deliver(app, phone, action, {**form, "RecordingDuration": "9"})[0][0] == 200
    kept = rows(app, "recordings", "call_sid = :c", c=phone.call_sid)
    assert [(r["recording_sid"], r["recording_url"]) for r in kept] == [(SID, url)], "the audio kept, once"
    assert f"RecordingSid {other} is not the RecordingUrl's {SID}" in caplog.text


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "ending_sid", "acting_sid"),
    [
        ("Completed", str, str.upper),
        (" COMPLETED ", lambda s: s + " ", lambda s: s + " "),
        ("No-Answer", str.upper, lambda s: "\t" + s),
        ("canceled\n", lambda s: " " + s, lambda s: "ca" + s[2:]),
    ],
)
def test_a_call_ended_in_any_spelling_makes_no_late_call_back_or_text(
    database_url: str, status: str, ending_sid: Any, acting_sid: Any
) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    at_choices, in_topic = new_call(app, "0"), new_call(app, TO_CAUSES)
    for phone, key in ((at_choices, "1"), (in_topic, "8")):
        client = SignedClient(app)
        client.caller, client.call_sid = phone.caller, ending_sid(phone.call_sid)
        assert client.post("/voice/status", {"CallStatus": status, "CallDuration": "40"})[0] == 204
        call = services.store(app).get_call(phone.call_sid)
        assert call is not None and call.ended_at is not None and call.status == status.strip().lower()
        reply = deliver(
            app, phone, waiting_action(phone), {"Digits": key, "CallSid": acting_sid(phone.call_sid)}
        )
        assert reply[0][0] == 200
        assert_valid_twiml(reply[0][1])
    assert rows(app, "callbacks", "call_sid = :c", c=at_choices.call_sid) == []
    assert rows(app, "sms_outbox", "call_sid = :c", c=in_topic.call_sid) == []
    assert fake.sent == []


@pytest.mark.integration
@pytest.mark.parametrize("lang_key", ["1", "2"], ids=["english", "hindi"])
def test_without_a_call_sid_no_text_or_call_back_is_made_and_the_caller_hears_so(
    database_url: str, lang_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    phrases = PHRASES["en" if lang_key == "1" else "hi"]
    at_choices, in_topic = new_call(app, "0", lang_key), new_call(app, TO_CAUSES, lang_key)
    missing: list[dict[str, Any]] = [{"without": ("CallSid",)}, {"without": ()}]
    for how in missing:
        blank = {} if how["without"] else {"CallSid": "  "}
        for _ in range(2):  # pressed twice
            texted = deliver(app, in_topic, waiting_action(in_topic), {"Digits": "8", **blank}, **how)[0]
            assert texted[0] == 200 and said(texted[1])[0] == phrases.sms_failed
            booked = deliver(app, at_choices, waiting_action(at_choices), {"Digits": "1", **blank}, **how)[0]
            assert booked[0] == 200 and said(booked[1])[0] == phrases.callback_failed
    assert fake.sent == [] and rows(app, "sms_outbox") == [] and rows(app, "callbacks") == []
    assert "without a CallSid" in caplog.text
