"""Specialist routing: in and out of hours (fixed clocks), whisper, queues, callbacks, recorded questions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import AUTH_TOKEN, BASE_URL, CALLBACK_DAYS, RECORDING_DAYS, answer, make_app
from tests.support.routing import DESK, NEURO, SURGERY, routed_app
from tests.support.twiml import query

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
EN, HI = CONTENT.prompts["en"].phrases, CONTENT.prompts["hi"].phrases
SPECIALTIES = CONTENT.directory.specialties if CONTENT.directory else {}
# Wednesday 25 November 2026: 11:00 and 20:00 in India (UTC+5:30); Republic Day 2027 at 11:00.
IN_HOURS = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)
EVENING = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
HOLIDAY = datetime(2027, 1, 26, 5, 30, tzinfo=UTC)
TREE = CONTENT.tree
# The keys from the main menu: medicines and referrals (treatment), the six types (a series).
TO_DRUGS, TO_TYPES, TO_SURGERY = (
    "".join(TREE.keys_to(n)) for n in ("drug_therapy", "categories", "specialists")
)


def call(app: Flask, keys: str, lang_key: str = "1", caller: str | None = None) -> Phone:
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=caller)
    answer(phone, lang_key)
    for key in keys:
        phone.press(key)
    return phone


def reach(phone: Phone, node: str) -> Turn:
    """Press the keys to a node from the main menu; a section of a series: on through it with 1."""
    turn = Turn()
    for key in TREE.keys_to(node):
        turn = phone.press(key)
    for _ in TREE.topic_sections(TREE.topic_of(node)):
        if where(turn)["n"] == node:
            break
        turn = phone.press("1")
    assert where(turn)["n"] == node and where(turn)["p"] == "0", turn.says
    return turn


def where(turn: Turn) -> dict[str, str]:
    assert turn.gather is not None, turn.says
    return query(turn.gather.get("action", ""))


def name(specialty: str, lang: str = "en") -> str:
    return SPECIALTIES[specialty].name[lang]


def test_in_hours_zero_in_a_treatment_topic_dials_the_neurologist_with_a_whisper() -> None:
    phone = call(routed_app(IN_HOURS), TO_DRUGS)
    phone.dial_outcome = "completed"
    turn = phone.press("0")
    doc = turn.documents[0]
    assert [v.tag for v in doc] == ["Say", "Dial"]
    assert turn.says[0] == EN.connecting_to.format(name=name("neurologist"))
    dial = doc.find("Dial")
    assert dial is not None and dial.get("action", "").startswith("/voice/dial?")
    number = dial.find("Number")
    assert number is not None and (number.text or "").strip() == NEURO
    whisper = query(number.get("url", ""))
    assert number.get("url", "").startswith("/voice/whisper?")
    assert whisper["k"] == "neurologist" and whisper["c"] == phone.call_sid
    assert turn.dialed == [NEURO]
    assert turn.says[-1] == EN.goodbye, "the person hung up: so does the line, politely"


def test_the_whisper_tells_the_specialist_the_path_language_and_speed() -> None:
    app = routed_app(IN_HOURS)
    phone = call(app, "", lang_key="2")  # Hindi
    phone.press("7")  # slower
    for key in TO_DRUGS:
        phone.press(key)
    turn = phone.press("0")
    number = turn.documents[0].find("Dial/Number")
    assert number is not None
    url = BASE_URL + number.get("url", "")
    form = {"CallSid": "CAagent", "From": "+911100000000", "To": NEURO}
    status, body = FlaskTransport(app).post(url, form, phone.signed_headers(url, form))
    assert status == 200
    said = [(s.text or "").strip() for s in ET.fromstring(body).iter("Say")]
    drugs = CONTENT.tree.section("drug_therapy", "en").title.rstrip(".")
    assert said[0] == EN.whisper.format(language="Hindi", rate="slow", topics=drugs)


def test_a_queue_specialty_enqueues_with_hold_and_an_outcome() -> None:
    app = routed_app(IN_HOURS)
    phone = call(app, TO_TYPES)
    phone.dial_outcome = "completed"
    turn = phone.press("0")
    enqueue = turn.documents[0].find("Enqueue")
    assert enqueue is not None and (enqueue.text or "").strip() == SPECIALTIES["neuromuscular_clinic"].queue
    assert enqueue.get("waitUrl", "").startswith("/voice/hold?")
    assert enqueue.get("action", "").startswith("/voice/dial?")
    hold_url, form = BASE_URL + enqueue.get("waitUrl", ""), {"CallSid": phone.call_sid}
    status, body = FlaskTransport(app).post(hold_url, form, phone.signed_headers(hold_url, form))
    hold = ET.fromstring(body)
    assert status == 200 and [v.tag for v in hold] == ["Gather"]
    assert [(s.text or "").strip() for s in hold.iter("Say")] == [EN.queue_wait, EN.queue_leave]
    for result, expect_goodbye in [("bridged", True), ("queue-full", False), ("system-error", False)]:
        url = BASE_URL + enqueue.get("action", "")
        form = {"CallSid": phone.call_sid, "QueueResult": result}
        status, body = FlaskTransport(app).post(url, form, phone.signed_headers(url, form))
        said = [(s.text or "").strip() for s in ET.fromstring(body).iter("Say")]
        assert (said == [EN.goodbye]) is expect_goodbye, (result, said)
        if not expect_goodbye:
            assert said == [
                EN.dial_failed,
                EN.offer_callback.format(days=CALLBACK_DAYS),
                EN.offer_record.format(days=RECORDING_DAYS),
                EN.go_back,
            ]
            choices = ET.fromstring(body).find("Gather")
            assert choices is not None and query(choices.get("action", ""))["n"] == "_specialist"


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_a_specialist_who_does_not_answer_leads_back_to_options(outcome: str) -> None:
    phone = call(routed_app(IN_HOURS), TO_DRUGS)
    phone.dial_outcome = outcome
    turn = phone.press("0")
    assert turn.dialed == [NEURO]
    assert turn.says[1:] == [
        EN.dial_failed,
        EN.offer_callback.format(days=CALLBACK_DAYS),
        EN.offer_record.format(days=RECORDING_DAYS),
        EN.go_back,
    ]
    assert where(turn)["n"] == "_specialist" and where(turn)["b"] == "drug_therapy"


def test_star_at_the_choices_goes_back_to_the_part_the_caller_was_hearing() -> None:
    phone = call(routed_app(EVENING), TO_DRUGS)
    phone.press("1")  # the second part of Medicines
    assert where(phone.press("0"))["n"] == "_specialist"
    turn = phone.press("*")
    section = TREE.section("drug_therapy", "en")
    assert turn.says == [section.parts[1]]
    assert where(turn)["n"] == "drug_therapy" and where(turn)["p"] == "1"


@pytest.mark.parametrize(("now", "phrase"), [(EVENING, "closed"), (HOLIDAY, "closed_holiday")])
def test_out_of_hours_the_caller_hears_the_hours_and_the_choices(now: datetime, phrase: str) -> None:
    turn = call(routed_app(now), TO_DRUGS).press("0")
    hours = SPECIALTIES["neurologist"].hours_said
    assert hours is not None
    said = getattr(EN, phrase).format(name=name("neurologist"), hours=hours["en"])
    assert turn.says == [
        said,
        EN.offer_callback.format(days=CALLBACK_DAYS),
        EN.offer_record.format(days=RECORDING_DAYS),
        EN.go_back,
    ]
    assert not turn.dialed
    assert where(turn)["n"] == "_specialist" and where(turn)["b"] == "drug_therapy"


def test_out_of_hours_a_callback_is_saved_with_the_number_and_confirmed() -> None:
    app = routed_app(EVENING)
    phone = call(app, TO_DRUGS, caller="+919876541234")
    phone.press("0")
    turn = phone.press("1")
    assert turn.says[0] == EN.callback_saved.format(name=name("neurologist"), digits="1 2 3 4")
    assert where(turn)["n"] == "drug_therapy"
    callbacks = services.store(app).callbacks()
    mine = [c for c in callbacks if c.call_sid == phone.call_sid]
    assert len(mine) == 1
    assert mine[0].callback_number == "+919876541234" and mine[0].specialty == "neurologist"
    assert mine[0].language == "en"


def test_a_withheld_number_cannot_ask_for_a_callback_but_can_record() -> None:
    phone = call(routed_app(EVENING), TO_DRUGS, caller="anonymous")
    phone.press("0")
    turn = phone.press("1")
    assert turn.says == [EN.no_number, EN.offer_record.format(days=RECORDING_DAYS), EN.go_back], (
        "no call back offered again: no loop"
    )
    assert where(turn)["n"] == "_specialist"
    asked = phone.press("2")
    assert asked.says == [EN.record_intro] and asked.documents[-1].find("Record") is not None


def test_a_recorded_question_is_limited_confirmed_and_kept() -> None:
    app = routed_app(EVENING)
    phone = call(app, TO_DRUGS)
    phone.press("0")
    turn = phone.press("2")
    doc = turn.documents[-1]
    assert [v.tag for v in doc] == ["Say", "Record", "Redirect"]
    record = doc.find("Record")
    assert record is not None
    assert record.get("maxLength") == "120" and record.get("finishOnKey") == "#"
    assert record.get("playBeep") == "true"
    assert turn.says == [EN.record_intro]
    url = BASE_URL + record.get("action", "")
    form = {
        "CallSid": phone.call_sid,
        "From": phone.caller,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingDuration": "17",
    }
    status, body = FlaskTransport(app).post(url, form, phone.signed_headers(url, form))
    said = [(s.text or "").strip() for s in ET.fromstring(body).iter("Say")]
    assert status == 200 and said[0] == EN.record_saved.format(name=name("neurologist"))
    kept = [r for r in services.store(app).recordings() if r.call_sid == phone.call_sid]
    assert len(kept) == 1 and kept[0].duration_seconds == 17 and kept[0].specialty == "neurologist"


def test_saying_nothing_at_the_tone_is_not_a_question() -> None:
    phone = call(routed_app(EVENING), TO_DRUGS)
    phone.press("0")
    phone.press("2")
    turn = phone.wait()  # Twilio goes on to the Redirect after an empty recording
    assert turn.says[0] == EN.record_empty
    assert where(turn)["n"] == "_specialist"


def test_a_specialty_with_no_number_set_leaves_zero_to_the_help_desk() -> None:
    app = make_app(
        CLOCK=lambda: IN_HOURS, DIRECTORY_ENV={"IVR_NEUROLOGIST_NUMBER": NEURO}, OPERATOR_NUMBER=DESK
    )
    phone = call(app, TO_SURGERY)
    phone.dial_outcome = "completed"
    turn = phone.press("0")
    assert turn.says[0] == EN.connecting_to.format(name=name("helpdesk"))
    assert turn.dialed == [DESK], "the surgical referrals team has no number here: the help desk takes it"


def test_with_no_one_set_up_zero_offers_a_call_back_from_the_help_desk() -> None:
    app = make_app(CLOCK=lambda: IN_HOURS, DIRECTORY_ENV={"IVR_NEUROLOGIST_NUMBER": NEURO})
    phone = call(app, TO_SURGERY, caller="+919876545678")
    turn = phone.press("0")
    assert turn.says == [
        EN.operator_unavailable,
        EN.offer_callback.format(days=CALLBACK_DAYS),
        EN.offer_record.format(days=RECORDING_DAYS),
        EN.go_back,
    ]
    assert not turn.dialed and where(turn)["n"] == "_specialist" and where(turn)["b"] == "specialists"
    turn = phone.press("1")
    assert turn.says[0] == EN.callback_saved.format(name=name("helpdesk"), digits="5 6 7 8")
    assert where(turn)["n"] == "specialists"
    mine = [c for c in services.store(app).callbacks() if c.call_sid == phone.call_sid]
    assert [(c.callback_number, c.specialty) for c in mine] == [("+919876545678", "helpdesk")]


# Who 0 reaches from each place a call can be, when everyone is set up and open.
REACHES = [
    ("treatment", "neurologist"),
    ("drug_therapy", "neurologist"),
    ("specialists", "surgical_referrals"),
    *((sid, "neuromuscular_clinic") for sid in TREE.topic_sections("categories")),
    *((node, "helpdesk") for node in ("main", "symptoms_causes", "symptoms", "causes", "about")),
]
DIALLED = {
    "neurologist": NEURO,
    "surgical_referrals": SURGERY,
    "neuromuscular_clinic": f"queue:{SPECIALTIES['neuromuscular_clinic'].queue}",
    "helpdesk": DESK,
}


@pytest.mark.unit
def test_every_place_a_call_can_be_is_routed_here() -> None:
    assert sorted(node for node, _ in REACHES) == sorted(TREE.nodes())


@pytest.mark.parametrize(("node", "specialty"), REACHES, ids=[n for n, _ in REACHES])
def test_zero_reaches_the_specialty_for_that_part_of_the_tree(node: str, specialty: str) -> None:
    phone = call(routed_app(IN_HOURS, OPERATOR_NUMBER=DESK), "")
    if node != TREE.root:
        reach(phone, node)
    phone.dial_outcome = "completed"
    turn = phone.press("0")
    assert turn.says[0] == EN.connecting_to.format(name=name(specialty))
    assert turn.dialed == [DIALLED[specialty]]
    assert turn.says[-1] == EN.goodbye


def test_a_caller_is_told_when_the_specialist_may_not_speak_their_language() -> None:
    phone = call(routed_app(IN_HOURS), TO_SURGERY, lang_key="2")
    phone.dial_outcome = "completed"
    turn = phone.press("0")
    surgery = name("surgical_referrals", "hi")
    assert turn.says[:2] == [HI.connecting_to.format(name=surgery), HI.language_note.format(name=surgery)]
    assert turn.dialed == [SURGERY]


def test_zero_elsewhere_reaches_the_help_desk() -> None:
    phone = call(routed_app(EVENING, OPERATOR_NUMBER=DESK), "".join(TREE.keys_to("about")))
    phone.dial_outcome = "completed"
    turn = phone.press("0")
    assert turn.says[0] == EN.connecting_to.format(name=name("helpdesk"))
    assert turn.dialed == [DESK], "the help desk keeps no hours"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  treatment: neurologist",
            "  treatmint: neurologist",
            "'treatmint' is not a menu, series or section",
        ),
        ('mon-fri: "09:00-17:00"', 'mon-fri: "17:00-09:00"', "opening before closing"),
        ("timezone: Asia/Kolkata", "timezone: Mars/Olympus", "unknown time zone"),
        ("default: helpdesk", "default: nobody", "'nobody' is not a specialty"),
        (
            "    queue: neuromuscular-clinic",
            "    queue: neuromuscular-clinic\n    dial: '+911140000003'",
            "exactly one",
        ),
        # A number written in the file is checked like one from the environment.
        ("    dial: env:IVR_NEUROLOGIST_NUMBER", "    dial: '+9100'", "not '+9100': it is too short"),
        ("    dial: env:IVR_NEUROLOGIST_NUMBER", "    dial: env:IVR NEURO", "environment variable's name"),
    ],
)
def test_a_broken_directory_is_refused_at_start_up(
    content_copy: Any, old: str, new: str, message: str
) -> None:
    from ivr.content import ContentError

    path = content_copy / "knowledge/specialists.yaml"
    assert old in path.read_text(), old
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    assert any("specialists.yaml:" in p and message in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_an_agent_dialling_in_hears_the_longest_waiting_callers_whisper(tmp_path: Path) -> None:
    # A database of its own: a caller another test left waiting in this queue would be the longest.
    app = routed_app(IN_HOURS, DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    first = call(app, "", lang_key="2")
    first.press("7")
    first.press("3")
    # Press 0, and stay in the queue: post the key as Twilio would, without following the <Enqueue>.
    assert first.gather is not None
    action = urljoin(first.gather_url, first.gather.get("action", ""))
    form0 = {**first._base_params(), "Digits": "0"}
    status, body = FlaskTransport(app).post(action, form0, first.signed_headers(action, form0))
    queue = str(SPECIALTIES["neuromuscular_clinic"].queue)
    assert status == 200 and (ET.fromstring(body).findtext("Enqueue") or "").strip() == queue
    url = f"{BASE_URL}/voice/agent?queue={queue}"
    form = {"CallSid": "CAagent", "From": "+911100000000"}
    status, body = FlaskTransport(app).post(url, form, first.signed_headers(url, form))
    assert status == 200
    doc = ET.fromstring(body)
    assert [v.tag for v in doc] == ["Say", "Dial"]
    dialled = doc.find("Dial/Queue")
    assert dialled is not None and (dialled.text or "").strip() == queue
    said = (doc[0].text or "").strip()
    assert said.startswith(EN.whisper.split("{")[0]) and "Hindi" in said and "slow" in said


def test_an_agent_line_for_an_unknown_queue_is_refused() -> None:
    app = routed_app(IN_HOURS)
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    url = f"{BASE_URL}/voice/agent?queue=nope"
    status, _ = FlaskTransport(app).post(
        url, {"CallSid": "CAx"}, phone.signed_headers(url, {"CallSid": "CAx"})
    )
    assert status == 404
