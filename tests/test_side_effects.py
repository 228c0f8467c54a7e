"""Side effects are done once and only while the call is live: Twilio's redeliveries (one request sent
again, or twice at once), I-Twilio-Idempotency-Token, status callbacks that are not final, and
action webhooks that come after the call ended. On real SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.simulator import FlaskTransport, Phone
from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, answer, indian_mobile, make_app
from tests.support.replay import deliver, waiting_action
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.twiml import assert_valid_twiml, spoken

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
EN = CONTENT.prompts["en"].phrases
TO_CAUSES = "".join(TREE.keys_to("causes"))
FINAL = ["completed", "busy", "failed", "no-answer", "canceled"]
NOT_FINAL = ["queued", "initiated", "ringing", "in-progress", "answered", "", "Completed!", "paused"]


def new_call(app: Flask, keys: str = "") -> Phone:
    """A caller from an Indian mobile, in English, who pressed `keys` from the main menu."""
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    answer(phone, "1")
    for key in keys:
        phone.press(key)
    return phone


def rows(app: Flask, table: str, call_sid: str) -> list[dict[str, Any]]:
    with services.store(app).engine.connect() as conn:
        found = conn.execute(text(f"SELECT * FROM {table} WHERE call_sid = :c"), {"c": call_sid})
        return [dict(r._mapping) for r in found]


def said(body: str) -> list[str]:
    assert_valid_twiml(body)
    return spoken(ET.fromstring(body))


def ended(app: Flask, phone: Phone, status: str = "completed") -> None:
    client = SignedClient(app)
    client.call_sid, client.caller = phone.call_sid, phone.caller
    assert client.post("/voice/status", {"CallStatus": status, "CallDuration": "40"})[0] == 204


# Redelivered and twin requests ---------------------------------------------------------------


@pytest.mark.parametrize("copies", [2, 3])
def test_a_call_back_asked_for_twice_at_once_or_again_is_booked_once(database_url: str, copies: int) -> None:
    app = make_app(DATABASE_URL=database_url)
    phone = new_call(app, "0")  # no one set up: a call back or a question
    url = waiting_action(phone)
    replies = deliver(app, phone, url, {"Digits": "1"}, copies=copies)
    replies += deliver(app, phone, url, {"Digits": "1"})  # and Twilio's retry, later
    digits = " ".join(phone.caller[-4:])
    for status, body in replies:
        assert status == 200
        assert any(s.startswith("Thank you. We will ask") and digits in s for s in said(body)), body
    booked = rows(app, "callbacks", phone.call_sid)
    assert [r["callback_number"] for r in booked] == [phone.caller]


def test_a_recording_delivered_twice_at_once_and_again_is_kept_once(database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url)
    phone = new_call(app, "02")  # record a question
    url = waiting_action(phone)
    sid = "RE" + "a" * 32
    form = {
        "RecordingSid": sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{phone.account_sid}/Recordings/{sid}",
        "RecordingDuration": "14",
        "Digits": "#",
    }
    replies = deliver(app, phone, url, form, copies=2) + deliver(app, phone, url, form)
    thanks = [s for s in said(replies[0][1]) if s.startswith("Thank you")]
    assert thanks, "the caller is thanked for the question"
    for status, body in replies:
        assert status == 200 and thanks[0] in said(body)
    kept = rows(app, "recordings", phone.call_sid)
    assert [(r["recording_sid"], r["duration_seconds"]) for r in kept] == [(sid, 14)]


def test_a_text_asked_for_twice_at_once_again_and_by_a_second_press_goes_once(database_url: str) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    phone = new_call(app, TO_CAUSES)
    url = waiting_action(phone)
    replies = deliver(app, phone, url, {"Digits": "8"}, copies=2) + deliver(app, phone, url, {"Digits": "8"})
    for status, body in replies:
        assert status == 200 and said(body)[0] == EN.sms_sent
    assert phone.press("8").says[0] == EN.sms_sent, "pressed again: it has been sent, and is not sent again"
    assert len(fake.sent) == 1
    assert [r["status"] for r in rows(app, "sms_outbox", phone.call_sid)] == ["sent"]


def test_another_topic_in_the_same_call_is_another_text(database_url: str) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    phone = new_call(app, TO_CAUSES)
    phone.press("8")
    phone.press("#")
    for key in TREE.keys_to("about"):
        phone.press(key)
    assert phone.press("8").says[0] == EN.sms_sent
    assert len(fake.sent) == 2


def test_a_request_whose_idempotency_token_was_answered_gets_the_same_reply_and_does_nothing(
    database_url: str,
) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    phone = new_call(app, TO_CAUSES)
    url = waiting_action(phone)
    store = services.store(app)
    first = deliver(app, phone, url, {"Digits": "8"}, token="idem-1")
    events = len(store.events_for(phone.call_sid))
    again = deliver(app, phone, url, {"Digits": "8"}, token="idem-1")
    assert again == first and said(first[0][1])[0] == EN.sms_sent
    assert len(store.events_for(phone.call_sid)) == events, "no journey event recorded twice"
    assert len(fake.sent) == 1
    # A request of its own (another token) is answered afresh, and its journey recorded.
    other = deliver(app, phone, url, {"Digits": "9"}, token="idem-2")
    assert other[0][0] == 200 and other != first
    assert len(store.events_for(phone.call_sid)) == events + 1


# Status callbacks -------------------------------------------------------------------------------


def live(app: Flask) -> set[str]:
    return {c.call_sid for c in services.store(app).live_calls()}


@pytest.mark.parametrize("status", NOT_FINAL)
def test_a_status_that_is_not_final_leaves_the_call_live(
    status: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    phone = new_call(app)
    assert phone.call_sid in live(app)
    ended(app, phone, status)
    assert phone.call_sid in live(app), f"{status!r} does not end a call"
    call = services.store(app).get_call(phone.call_sid)
    assert call is not None and call.ended_at is None
    if status not in ("queued", "initiated", "ringing", "in-progress", "answered"):
        assert "unknown CallStatus" in caplog.text


@pytest.mark.parametrize("status", FINAL)
def test_a_final_status_ends_the_call(status: str) -> None:
    app = make_app()
    phone = new_call(app)
    ended(app, phone, status)
    assert phone.call_sid not in live(app)
    call = services.store(app).get_call(phone.call_sid)
    assert call is not None and call.status == status and call.duration_seconds == 40


# Late actions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "no-answer", "canceled"])
def test_actions_after_the_call_ended_make_no_call_back_or_text_but_keep_the_question(
    database_url: str, status: str
) -> None:
    # A call back or a text asked for by a call that is over is nobody's wish any more; a recorded
    # question is the caller's words, and hanging up is how many callers finish one: kept, once.
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    at_choices = new_call(app, "0")
    recording = new_call(app, "02")
    in_topic = new_call(app, TO_CAUSES)
    recording_form = {
        "RecordingSid": "RE" + "b" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "b" * 32,
        "RecordingDuration": "9",
    }
    late = [(at_choices, {"Digits": "1"}), (recording, recording_form), (in_topic, {"Digits": "8"})]
    for phone, form in late:
        ended(app, phone, status)
        action = waiting_action(phone)
        for _ in range(2):  # and delivered again
            reply = deliver(app, phone, action, form)[0]
            assert reply[0] == 200
            assert_valid_twiml(reply[1])
    for phone in (at_choices, in_topic):
        for table in ("callbacks", "recordings", "sms_outbox"):
            assert rows(app, table, phone.call_sid) == [], table
    assert len(rows(app, "recordings", recording.call_sid)) == 1
    assert fake.sent == []
