"""Transfers that do not reach a person: a voicemail or a declined whisper, every DialCallStatus, and a
queue the caller can leave (star), that ends at the longest wait and at closing time, every QueueResult."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.phone import transfers
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import AUTH_TOKEN, BASE_URL, CALLBACK_DAYS, RECORDING_DAYS, answer, indian_mobile
from tests.support.routing import NEURO, routed_app
from tests.support.twiml import assert_valid_twiml, query

CONTENT = load_content(REPO_ROOT)
EN = CONTENT.prompts["en"].phrases
TREE = CONTENT.tree
TO_DRUGS, TO_TYPES = ("".join(TREE.keys_to(n)) for n in ("drug_therapy", "categories"))
# Wednesday 25 November 2026 in India: 11:00, in everyone's hours; 15:59, a minute before the
# neuromuscular clinic's queue closes at 16:00.
IN_HOURS = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)
CLINIC_CLOSING = datetime(2026, 11, 25, 10, 29, tzinfo=UTC)
OFFER = [
    EN.offer_callback.format(days=CALLBACK_DAYS),
    EN.offer_record.format(days=RECORDING_DAYS),
    EN.go_back,
]
CLINIC = CONTENT.directory.specialties["neuromuscular_clinic"] if CONTENT.directory else None


def call(app: Flask, keys: str, outcome: str) -> Phone:
    phone = Phone(
        FlaskTransport(app),
        base_url=BASE_URL,
        auth_token=AUTH_TOKEN,
        caller=indian_mobile(),
        dial_outcome=outcome,
    )
    answer(phone)
    for key in keys:
        phone.press(key)
    return phone


def post(app: Flask, phone: Phone, url: str, form: dict[str, str]) -> ET.Element:
    """POST a signed webhook for the phone's call, as Twilio would; the reply, checked against the XSD."""
    url = urljoin(BASE_URL + "/voice/", url)
    form = {"CallSid": phone.call_sid, **form}
    status, body = FlaskTransport(app).post(url, form, phone.signed_headers(url, form))
    assert status == 200, body
    assert_valid_twiml(body)
    return ET.fromstring(body)


def spoken(root: ET.Element) -> list[str]:
    return [(s.text or "").strip() for s in root.iter("Say")]


def at(turn: Turn) -> str:
    assert turn.gather is not None, turn.says
    return query(turn.gather.get("action", "")).get("n", "")


# A transfer to a number: whoever answers must press 1.


@pytest.mark.integration
def test_a_voicemail_that_answers_a_transfer_leaves_the_caller_the_call_back_offer() -> None:
    phone = call(routed_app(IN_HOURS), TO_DRUGS, "voicemail")
    turn = phone.press("0")
    assert turn.dialed == [NEURO] and turn.bridged == [False], "the voicemail pressed nothing"
    assert EN.whisper_accept in turn.whispered and turn.whispered[-1] == EN.whisper_missed
    assert turn.says[1:] == [EN.dial_failed, *OFFER], "not a goodbye after talking to a machine"
    assert at(turn) == "_specialist" and not turn.ended
    assert phone.press("1").says[0].startswith(EN.callback_saved.split("{")[0]), "the offer works"


@pytest.mark.integration
@pytest.mark.parametrize(("outcome", "talked"), [("completed", True), ("declined", False)])
def test_only_a_person_who_presses_1_is_put_through(outcome: str, talked: bool) -> None:
    turn = call(routed_app(IN_HOURS), TO_DRUGS, outcome).press("0")
    assert turn.bridged == [talked]
    if talked:  # they talked; when the specialist hangs up, the line says goodbye
        assert turn.says[1:] == [EN.goodbye] and turn.ended
    else:
        assert turn.says[1:] == [EN.dial_failed, *OFFER] and at(turn) == "_specialist"


@pytest.mark.integration
def test_the_whisper_asks_for_1_twice_then_hangs_up_its_own_leg() -> None:
    app = routed_app(IN_HOURS)
    phone = call(app, TO_DRUGS, "busy")
    dial = phone.press("0").documents[0].find("Dial")
    assert dial is not None and int(dial.get("timeout", "0")) <= 20, "rings out before carriers' voicemail"
    number = dial.find("Number")
    assert number is not None and number.get("url", "").startswith("/voice/whisper?")
    whisper = post(app, phone, number.get("url", ""), {"CallSid": "CAleg", "To": NEURO})
    assert [v.tag for v in whisper] == ["Gather", "Gather", "Say", "Hangup"]
    for gather in whisper.findall("Gather"):
        assert (gather.get("input"), gather.get("numDigits")) == ("dtmf", "1")
        assert gather.get("action", "").startswith("/voice/whisper/answer?")
        assert spoken(gather)[-1] == EN.whisper_accept
    action = whisper.findall("Gather")[0].get("action", "")
    assert list(post(app, phone, action, {"CallSid": "CAleg", "Digits": "1"})) == [], "1: put through"
    declined = post(app, phone, action, {"CallSid": "CAleg", "Digits": "9"})
    assert [v.tag for v in declined] == ["Say", "Hangup"] and spoken(declined) == [EN.whisper_missed]


# Twilio's documented DialCallStatus values, then a missing and an unknown one.
STATUSES = ["completed", "answered", "busy", "no-answer", "failed", "canceled", "", "odd"]


@pytest.mark.integration
@pytest.mark.parametrize("status", STATUSES)
def test_every_dial_call_status_without_a_1_pressed_is_could_not_connect_and_the_offer(status: str) -> None:
    app = routed_app(IN_HOURS)
    phone = call(app, TO_DRUGS, "busy")
    dial = phone.press("0").documents[0].find("Dial")
    assert dial is not None
    after = post(app, phone, dial.get("action", ""), {"DialCallStatus": status})
    assert spoken(after) == [EN.dial_failed, *OFFER], "no one pressed 1: not reached, whatever the status"
    assert [v.tag for v in after] == ["Gather", "Redirect"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "spelt"),
    [
        ("completed", str),
        ("answered", str),
        # Other spellings of the same status and the same CallSid: the same call, the same goodbye.
        ("COMPLETED", str),
        (" Completed\n", str),
        ("Answered", str.upper),
        ("completed", lambda sid: f" {sid[:2]}{sid[2:].upper()} "),
    ],
)
def test_after_a_call_the_specialist_took_the_line_says_goodbye(
    status: str, spelt: Callable[[str], str]
) -> None:
    app = routed_app(IN_HOURS)
    phone = call(app, TO_DRUGS, "completed")
    turn = phone.press("0")  # the specialist presses 1 at the whisper, talks, hangs up
    assert turn.bridged == [True] and turn.says[1:] == [EN.goodbye]
    dial = turn.documents[0].find("Dial")
    assert dial is not None
    form = {"CallSid": spelt(phone.call_sid), "DialCallStatus": status, "DialCallDuration": "42"}
    after = post(app, phone, dial.get("action", ""), form)
    assert spoken(after) == [EN.goodbye] and [v.tag for v in after] == ["Say", "Hangup"]


@pytest.mark.integration
def test_when_the_database_cannot_say_whether_1_was_pressed_the_caller_gets_the_choices_without_a_claim() -> (
    None
):
    # Nothing listens on port 1: the whisper's "1" cannot be noted, nor read back at the <Dial> action.
    app = routed_app(IN_HOURS, DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")
    turn = call(app, TO_DRUGS, "completed").press("0")
    assert turn.bridged == [True], "the specialist took the call: the outage does not stop that"
    assert turn.says[1:] == [EN.transfer_unknown, *OFFER], "neither 'could not connect' nor a bare goodbye"
    assert at(turn) == "_specialist"


# A queue: star leaves, and so does the caller past the longest wait or at closing time.


@pytest.mark.integration
def test_star_while_held_in_a_queue_leaves_it_for_the_call_back_offer() -> None:
    phone = call(routed_app(IN_HOURS), TO_TYPES, "no-answer")
    held = phone.press("0")
    assert held.dialed == [f"queue:{CLINIC.queue if CLINIC else ''}"]
    assert held.says[1:] == [EN.queue_wait, EN.queue_leave] and held.gather is not None
    assert (held.gather.get("input"), held.gather.get("numDigits")) == ("dtmf", "1")
    assert held.gather.get("action", "").startswith("/voice/hold/key?")
    assert phone.press("5").says == [EN.queue_wait, EN.queue_leave], "other keys: still waiting"
    left = phone.press("*")
    assert left.says == [EN.queue_left, *OFFER] and at(left) == "_specialist"


@pytest.mark.integration
def test_a_hindi_caller_is_held_and_let_go_in_hindi() -> None:
    hi = CONTENT.prompts["hi"].phrases
    phone = Phone(FlaskTransport(routed_app(IN_HOURS)), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    phone.dial_outcome = "no-answer"
    answer(phone, "2")
    for key in TO_TYPES:
        phone.press(key)
    assert phone.press("0").says[-2:] == [hi.queue_wait, hi.queue_leave]
    assert phone.press("*").says == [
        hi.queue_left,
        hi.offer_callback.format(days=CALLBACK_DAYS),
        hi.offer_record.format(days=RECORDING_DAYS),
        hi.go_back,
    ]


@pytest.mark.integration
def test_a_caller_held_past_the_longest_wait_is_offered_a_call_back() -> None:
    phone = call(routed_app(IN_HOURS, QUEUE_MAX_WAIT=50), TO_TYPES, "no-answer")
    turn = phone.press("0")
    timeouts: list[int] = []
    while turn.says[:1] == [EN.queue_wait] or turn.says[1:2] == [EN.queue_wait]:
        assert turn.gather is not None and len(timeouts) < 10
        timeouts.append(int(turn.gather.get("timeout", "0")))
        turn = phone.wait()
    assert timeouts == [20, 20, 10], "the last pause ends at the longest wait"
    assert phone.queue_time == 50
    assert turn.says == [EN.queue_waited, *OFFER] and at(turn) == "_specialist"


@pytest.mark.integration
def test_at_closing_time_the_queue_lets_the_caller_go_with_the_hours_and_the_offer() -> None:
    clock = [CLINIC_CLOSING]
    phone = call(routed_app(CLINIC_CLOSING, CLOCK=lambda: clock[0]), TO_TYPES, "no-answer")
    assert phone.press("0").says[-1] == EN.queue_leave
    clock[0] += timedelta(minutes=2)
    turn = phone.wait()
    assert CLINIC is not None and CLINIC.hours_said is not None
    closed = EN.closed.format(name=CLINIC.name["en"], hours=CLINIC.hours_said["en"])
    assert turn.says == [closed, *OFFER] and at(turn) == "_specialist"


@pytest.mark.integration
def test_the_hold_measures_the_wait_from_the_enqueue_when_twilio_gives_no_queue_time() -> None:
    clock = [IN_HOURS]
    app = routed_app(IN_HOURS, CLOCK=lambda: clock[0], QUEUE_MAX_WAIT=600)
    phone = call(app, TO_TYPES, "completed")
    enqueue = phone.press("0").documents[0].find("Enqueue")
    assert enqueue is not None
    assert [v.tag for v in post(app, phone, enqueue.get("waitUrl", ""), {})] == ["Gather"]
    clock[0] += timedelta(minutes=10)
    assert [v.tag for v in post(app, phone, enqueue.get("waitUrl", ""), {"QueueTime": "junk"})] == ["Leave"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("bridged", [EN.goodbye]),
        ("hangup", [EN.goodbye]),
        ("queue-full", [EN.dial_failed, *OFFER]),
        ("error", [EN.dial_failed, *OFFER]),
        ("system-error", [EN.dial_failed, *OFFER]),
        ("bridging-in-process", [EN.transfer_unknown, *OFFER]),
        ("redirected", [EN.transfer_unknown, *OFFER]),
        ("leave", [EN.queue_left, *OFFER]),
        ("something-new", [EN.dial_failed, *OFFER]),
        # Twilio's words in other spellings are the same words.
        ("Bridged", [EN.goodbye]),
        (" HANGUP ", [EN.goodbye]),
        ("Leave\n", [EN.queue_left, *OFFER]),
        ("Bridging-In-Process", [EN.transfer_unknown, *OFFER]),
    ],
)
def test_every_queue_result_leads_somewhere(result: str, expected: list[str]) -> None:
    app = routed_app(IN_HOURS)
    phone = call(app, TO_TYPES, "completed")
    enqueue = phone.press("0").documents[0].find("Enqueue")
    assert enqueue is not None
    after = post(app, phone, enqueue.get("action", ""), {"QueueResult": result, "QueueTime": "30"})
    assert spoken(after) == expected
    ends = expected == [EN.goodbye]
    assert [v.tag for v in after] == (["Say", "Hangup"] if ends else ["Gather", "Redirect"])


# The reading of Twilio's values, on its own.


@pytest.mark.unit
def test_an_answered_screened_transfer_counts_only_once_accepted() -> None:
    for status in ("completed", "answered"):
        assert transfers.dial_outcome(status, screened=True, accepted=True) == "completed"
        assert transfers.dial_outcome(status, screened=True, accepted=False) == "declined"
        assert transfers.dial_outcome(status, screened=True, accepted=None) == "unknown"
        assert transfers.dial_outcome(status, screened=False, accepted=None) == "completed"
    for status in ("busy", "no-answer", "failed", "canceled"):
        assert transfers.dial_outcome(status, screened=True, accepted=True) == status
    assert transfers.dial_outcome("", screened=False, accepted=None) == "failed"


@pytest.mark.unit
def test_a_wait_is_the_longer_of_queue_time_and_time_since_enqueued() -> None:
    now = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)
    started = str(int(now.timestamp()) - 90)
    assert transfers.waited("30", started, now) == 90
    assert transfers.waited("120", started, now) == 120
    assert transfers.waited("nan", "inf", now) == transfers.waited("", "", now) == 0
    assert transfers.queue_outcome("leave", waited_s=600, max_wait_s=600, open_now=False) == "waited"
    assert transfers.queue_outcome("leave", waited_s=10, max_wait_s=600, open_now=False) == "closed"
    assert transfers.queue_outcome("leave", waited_s=10, max_wait_s=600, open_now=True) == "left"
