"""Carry on where you stopped (issue 16): a returning caller who stopped inside a topic is offered
that part, by its topic's title only; the place is kept by pseudonym, forgotten at the topic's end
and after 30 days. Calls go through signed webhooks on the console phone's Phone; the store on real
SQLite and PostgreSQL."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text, update
from twilio.request_validator import RequestValidator

from ivr import engine, services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.tree import fill
from ivr.engine import (
    ASKED,
    CARRY_ON,
    CHOSEN,
    GREETED,
    KEPT,
    REMEMBERED,
    SAFETY,
    CallerInput,
    CallState,
    Line,
    Place,
)
from ivr.engine.model import HINTED
from ivr.privacy import caller_hash
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.store import KEEP_PLACE, Store
from ivr.store.core import utc_now
from ivr.store.models import KnownCaller
from tests.support.app import AUTH_TOKEN, BASE_URL, IN_HOURS, answer, indian_mobile, make_app
from tests.support.routing import NEURO, routed_app
from tests.support.twiml import assert_valid_twiml, query

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
LINE = Line(content=CONTENT)
EN, HI = CONTENT.prompts["en"], CONTENT.prompts["hi"]
SALT = "test-salt"  # make_app's HASH_SALT


def where(turn: Turn) -> tuple[str, int]:
    """The node and part a reply leaves the caller at (from its Gather's action URL)."""
    assert turn.gather is not None, turn.says
    state = query(turn.gather.get("action", ""))
    return state["n"], int(state.get("p", "0"))


def part_said(node: str, part: int, lang: str = "en") -> str:
    return fill(TREE.section(node, lang).parts[part], "1 1 2")


def offer(lang: str, topic: str) -> list[str]:
    """What a returning caller who stopped in `topic` hears first, as the content words it."""
    p = CONTENT.prompts[lang]
    key = p.phrases.help_line.format(action=p.actions.resume, key="1")
    return [
        p.phrases.welcome_back,
        p.phrases.safety.format(number="1 1 2"),
        p.phrases.disclaimer,
        p.phrases.last_topic.format(topic=topic),
        key,
    ]


def call_again(phone: Phone) -> Phone:
    """The same caller (same number) phoning again, on the same line."""
    return Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH_TOKEN, caller=phone.caller)


def stranger(phone: Phone) -> Phone:
    """Another caller on the same line."""
    return Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH_TOKEN, caller=indian_mobile())


def listen(phone: Phone, lang_key: str, keys: str, waits: int, *, remember: bool = True) -> Turn:
    """A first call: choose the language (and agree to be remembered), press `keys` to a topic,
    then hear `waits` more parts."""
    turn = answer(phone, lang_key, remember=remember)
    for key in keys:
        turn = phone.press(key)
    for _ in range(waits):
        turn = phone.wait()
    return turn


def dropped_in_symptoms(phone: Phone, lang_key: str = "1") -> None:
    """Call 1: Symptoms' parts 0, 1 and 2 (1, 1: symptoms and causes, then symptoms), then the line
    drops while part 2 is being said."""
    turn = listen(phone, lang_key, "11", waits=2)
    assert where(turn) == ("symptoms", 2)
    phone.hangup()


def place_row(app: Flask, number: str) -> tuple[Any, ...]:
    """The caller's place as stored (under their pseudonym): node, part, when."""
    store = services.store(app)
    with store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT place_node, place_part, place_at FROM callers WHERE caller_hash = :key"),
            {"key": caller_hash(number, SALT)},
        ).first()
    assert row is not None, "the caller is known by their pseudonym"
    return tuple(row)


def backdate(store: Store, key: str, age: timedelta) -> None:
    """Make a caller's place `age` old (through the model, so each backend stores the time its way)."""
    with store.engine.begin() as conn:
        conn.execute(
            update(KnownCaller).where(KnownCaller.caller_hash == key).values(place_at=utc_now() - age)
        )


def places_kept(app: Flask) -> int:
    with services.store(app).engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(KnownCaller.place_node.is_not(None))).scalar_one())


@pytest.fixture
def any_phone(database_url: str) -> Phone:
    """A new caller on a line whose database is SQLite or PostgreSQL."""
    app = make_app(DATABASE_URL=database_url)
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())


# The walk the issue asks for.


def test_a_dropped_call_carries_on_at_the_part_it_was_in_the_middle_of(any_phone: Phone) -> None:
    dropped_in_symptoms(any_phone)
    again = call_again(any_phone)
    offered = again.dial()
    assert offered.says == offer("en", "Symptoms")
    assert offered.says[3] == "Last time you were listening to Symptoms."
    assert offered.says[4] == "To carry on, press 1."
    assert where(offered) == (CARRY_ON, 0)
    carried = again.press("1")
    # Part 2 was being said when the line dropped: it is heard again, from its start.
    assert carried.says[0] == part_said("symptoms", 2)
    assert where(carried) == ("symptoms", 2)
    assert where(again.wait()) == ("symptoms", 3), "and the topic plays on from there"


def test_nothing_of_the_topic_is_said_before_the_caller_chooses_only_its_title(phone: Phone) -> None:
    # Motor neuron diseases, a section of the six types: the offer names the topic, not the disease.
    turn = listen(phone, "1", "3111", waits=0)  # the six types, then 1 (next) twice
    assert where(turn) == ("motor_neuron", 0), turn.says
    phone.hangup()
    offered = call_again(phone).dial()
    assert offered.says == offer("en", "The six types")
    section_words = [
        fill(part, "1 1 2")
        for section in TREE.topic_sections("categories")
        for part in [TREE.section(section, "en").title, *TREE.section(section, "en").parts]
    ]
    assert not set(offered.says) & set(section_words), "no part, and no section's own title"
    assert "motor" not in offered.text.lower() and "neuron" not in offered.text.lower()
    assert offered.documents and all(d.find(".//Play") is None for d in offered.documents)
    for document in offered.documents:
        assert_valid_twiml(ET.tostring(document))


def test_another_key_or_words_go_on_as_at_the_main_menu(phone: Phone) -> None:
    dropped_in_symptoms(phone)
    # A returning caller with no place to carry on: the welcome back and the main menu, as before.
    plain = stranger(phone)
    answer(plain, "1", remember=True)
    plain.hangup()
    for action in ["2", "3", "*", "#", "0", "5", "say:treatment", "say:xyzzy plugh"]:
        offered, usual = call_again(phone), call_again(plain)
        assert where(offered.dial()) == (CARRY_ON, 0)  # (3 leads into another topic: offered next time)
        assert usual.dial().says[0] == EN.phrases.welcome_back
        if action.startswith("say:"):
            got, expected = offered.say(action[4:]), usual.say(action[4:])
        else:
            got, expected = offered.press(action), usual.press(action)
        assert got.says == expected.says, action
        assert where(got)[0] == where(expected)[0], action
        assert where(got)[0] not in ("symptoms", CARRY_ON), action


def test_silence_at_the_offer_goes_on_to_the_main_menu_after_the_usual_wait(phone: Phone) -> None:
    dropped_in_symptoms(phone)
    plain = stranger(phone)
    answer(plain, "1", remember=True)
    plain.hangup()
    offered, usual = call_again(phone), call_again(plain)
    first, welcome = offered.dial(), usual.dial()
    assert first.gather is not None and welcome.gather is not None
    assert first.gather.get("timeout") == welcome.gather.get("timeout"), "the main menu's wait, not a part's"
    # Silence: the rest of the welcome (its options, that a topic's name may be said), unblamed.
    options = offered.wait()
    assert options.says == welcome.says[3:]
    assert EN.phrases.no_input not in options.says
    assert where(options) == (TREE.root, 0)
    # From there on, a caller who presses nothing gets just what a returning caller gets today.
    while not usual.ended:
        assert offered.wait().says == usual.wait().says
    assert offered.ended
    # And one who then chooses reaches the information as usual.
    later = call_again(phone)
    later.dial()
    later.wait()
    assert where(later.press("2")) == ("treatment", 0)


def test_repeat_help_speed_and_more_time_keep_the_offer(phone: Phone) -> None:
    dropped_in_symptoms(phone)
    again = call_again(phone)
    again.dial()
    assert again.press("9").says == offer("en", "Symptoms")[3:]
    helped = again.press("6")
    assert helped.says[0] == "To carry on, press 1."
    assert where(helped) == (CARRY_ON, 0)
    assert again.wait().says == offer("en", "Symptoms")[3:], "after help, silence says the offer again"
    slower = again.press("7")
    assert slower.says == [EN.phrases.rate_slow, *offer("en", "Symptoms")[3:]]
    assert {h.prosody_rate for h in slower.heard} == {"80%"}
    assert again.say("hold on").says == [EN.phrases.more_time]
    assert again.wait().says == offer("en", "Symptoms")[3:]
    assert where(again.press("1")) == ("symptoms", 2)


@pytest.mark.parametrize(
    "words",
    [
        "carry on",
        "continue where I left",
        "Continue where I left off.",
        "yes",
        "next",
        "ok",
        "go on",
        "आगे",
        "ठीक है",
    ],
)
def test_carry_on_can_be_said(phone: Phone, words: str) -> None:
    dropped_in_symptoms(phone)
    again = call_again(phone)
    again.dial()
    turn = again.say(words)
    assert where(turn) == ("symptoms", 2) and turn.says[0] == part_said("symptoms", 2)


@pytest.mark.parametrize("words", ["no", "No thanks.", "nope", "नहीं"])
def test_no_at_the_offer_declines_it_as_silence_does_without_blame(phone: Phone, words: str) -> None:
    dropped_in_symptoms(phone)
    plain = stranger(phone)
    answer(plain, "1", remember=True)
    plain.hangup()
    offered, usual = call_again(phone), call_again(plain)
    offered.dial()
    welcome = usual.dial()
    declined = offered.say(words)
    assert declined.says == welcome.says[3:], "the main menu's options, as after silence"
    assert EN.phrases.not_understood not in declined.says
    assert declined.gather is not None
    state = query(declined.gather.get("action", ""))
    assert (state["n"], state.get("m", "0")) == (TREE.root, "0"), "no miss counted"
    # The place is kept: offered again on the next call.
    assert where(call_again(phone).dial()) == (CARRY_ON, 0)


def test_the_offer_listens_for_carry_on_in_both_languages_as_speech_hints(phone: Phone) -> None:
    dropped_in_symptoms(phone)
    offered = call_again(phone).dial()
    assert offered.gather is not None
    hints = {h.strip() for h in offered.gather.get("hints", "").split(",")}
    assert {"carry on", "continue where i left", "जारी रखें", "वहीं से सुनाओ"} <= hints


# Hindi.


@pytest.mark.parametrize("words", ["जारी रखें", "वहीं से सुनाओ", "jaari rakhen"])
def test_a_hindi_caller_is_offered_in_hindi_and_carries_on_by_voice(phone: Phone, words: str) -> None:
    turn = listen(phone, "2", "12", waits=1)  # लक्षण और कारण, then कारण (causes): its second part
    assert where(turn) == ("causes", 1)
    phone.hangup()
    again = call_again(phone)
    offered = again.dial()
    assert offered.says == offer("hi", "कारण")
    assert offered.says[3:] == ["पिछली बार आप यह विषय सुन रहे थे: कारण।", "वहीं से आगे सुनने के लिए 1 दबाएँ।"]
    assert {h.language for h in offered.heard} == {"hi-IN"}
    carried = again.say(words)
    assert carried.says[0] == part_said("causes", 1, "hi")
    assert where(carried) == ("causes", 1)


def test_a_hindi_caller_who_presses_1_carries_on_in_hindi(phone: Phone) -> None:
    dropped_in_symptoms(phone, "2")
    again = call_again(phone)
    assert again.dial().says == offer("hi", "लक्षण")
    carried = again.press("1")
    assert carried.says[0] == part_said("symptoms", 2, "hi")
    assert {h.language for h in carried.heard} == {"hi-IN"}


# Forgetting.


def test_finishing_the_topic_forgets_the_place(app: Flask, phone: Phone) -> None:
    turn = listen(phone, "1", "11", waits=0)
    while where(turn)[1] < TREE.part_count("symptoms"):  # every part, then the topic's end
        turn = phone.wait()
    assert turn.says[0] == EN.phrases.end_of_topic
    phone.hangup()
    assert place_row(app, phone.caller) == (None, None, None)
    again = call_again(phone).dial()
    assert again.says[0] == EN.phrases.welcome_back
    assert where(again) == (TREE.root, 0)
    assert not any(s.startswith("Last time") for s in again.says)


def test_skipping_past_the_last_part_finishes_the_topic_too(app: Flask, phone: Phone) -> None:
    listen(phone, "1", "12", waits=0)  # causes
    for _ in range(TREE.part_count("causes")):
        turn = phone.press("1")
    assert where(turn) == ("causes", TREE.part_count("causes"))
    assert place_row(app, phone.caller) == (None, None, None)


def test_leaving_a_topic_keeps_the_place_and_the_latest_topic_is_the_one_offered(
    app: Flask, phone: Phone
) -> None:
    listen(phone, "1", "11", waits=1)  # symptoms, part 1
    phone.press("*")  # back to symptoms and causes
    turn = phone.press("2")  # causes, part 0
    assert where(turn) == ("causes", 0)
    phone.press("*")
    phone.hangup()
    assert place_row(app, phone.caller)[:2] == ("causes", 0)
    again = call_again(phone)
    assert again.dial().says[3] == "Last time you were listening to Causes."
    assert where(again.press("1")) == ("causes", 0)


def test_a_place_older_than_30_days_is_never_offered_and_is_purged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    app = make_app(DATABASE_URL=url)
    old = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    dropped_in_symptoms(old)
    young = stranger(old)
    dropped_in_symptoms(young)
    backdate(services.store(app), caller_hash(old.caller, SALT), KEEP_PLACE + timedelta(minutes=1))
    backdate(services.store(app), caller_hash(young.caller, SALT), KEEP_PLACE - timedelta(hours=1))
    # Not offered, though still stored: this process purged before it was old.
    assert place_row(app, old.caller)[0] == "symptoms"
    welcomed = call_again(old).dial()
    assert welcomed.says[0] == EN.phrases.welcome_back and where(welcomed) == (TREE.root, 0)
    assert call_again(young).dial().says == offer("en", "Symptoms")
    # The next process to start on this database purges at its first call.
    restarted = make_app(DATABASE_URL=url)
    stranger(Phone(FlaskTransport(restarted), base_url=BASE_URL, auth_token=AUTH_TOKEN)).dial()
    assert place_row(restarted, old.caller) == (None, None, None)
    assert place_row(restarted, young.caller)[:2] == ("symptoms", 2)
    services.store(app).dispose()
    services.store(restarted).dispose()


# Whose place.


def test_a_caller_never_hears_another_callers_place(app: Flask, phone: Phone) -> None:
    dropped_in_symptoms(phone)
    in_causes = stranger(phone)
    listen(in_causes, "1", "12", waits=1)
    in_causes.hangup()
    no_topic = stranger(phone)
    answer(no_topic, "1", remember=True)
    no_topic.hangup()
    assert call_again(phone).dial().says[3] == "Last time you were listening to Symptoms."
    assert call_again(in_causes).dial().says[3] == "Last time you were listening to Causes."
    plain = call_again(no_topic).dial()
    assert plain.says[0] == EN.phrases.welcome_back and where(plain) == (TREE.root, 0)
    assert where(stranger(phone).dial())[0] == "_language", "a new caller: the language menu"
    # Places are kept by pseudonym: no number in the callers' table.
    with services.store(app).engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM callers"))]
    for number in (phone.caller, in_causes.caller, no_topic.caller):
        assert not any(number.lstrip("+") in str(value) for row in rows for value in row)


def test_a_withheld_number_keeps_no_place(app: Flask, phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(app)
    phone.caller = "anonymous"
    before = places_kept(app)
    assert where(listen(phone, "1", "11", waits=1, remember=False)) == ("symptoms", 1)
    phone.hangup()
    assert places_kept(app) == before
    again = call_again(phone).dial()
    assert where(again)[0] == "_language"


def test_a_caller_whose_language_was_only_kept_by_default_keeps_no_place(app: Flask, phone: Phone) -> None:
    phone.dial()
    phone.wait()  # silence at the language menu: English kept, never chosen, so never remembered
    turn = phone.press("1")
    turn = phone.press("1")
    assert where(turn) == ("symptoms", 0)
    phone.hangup()
    with services.store(app).engine.connect() as conn:
        known = select(func.count()).where(KnownCaller.caller_hash == caller_hash(phone.caller, SALT))
        assert conn.execute(known).scalar_one() == 0, "it would never be offered: not kept"


def test_the_person_a_carried_on_caller_reaches_hears_the_topic_they_carried_on_in() -> None:
    app = routed_app(IN_HOURS)  # the neurologist takes calls now
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    turn = listen(phone, "1", "".join(TREE.keys_to("drug_therapy")), waits=1)
    assert where(turn) == ("drug_therapy", 1)
    phone.hangup()
    again = Phone(
        FlaskTransport(app),
        base_url=BASE_URL,
        auth_token=AUTH_TOKEN,
        caller=phone.caller,
        dial_outcome="completed",
    )
    again.dial()
    assert where(again.press("1")) == ("drug_therapy", 1)
    put_through = again.press("0")
    assert put_through.dialed == [NEURO] and put_through.bridged == [True]
    medicines = TREE.section("drug_therapy", "en").title.rstrip(".")
    assert put_through.whispered[0] == EN.phrases.whisper.format(
        language="English", rate="normal", topics=medicines
    )


# Signatures and rate limits, as on every webhook.


def _post(app: Flask, url: str, form: dict[str, str], signature: str | None = None) -> tuple[int, str]:
    signed = signature or RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + url, form)
    response = app.test_client().post(url, data=form, headers={"X-Twilio-Signature": signed})
    return response.status_code, response.get_data(as_text=True)


def test_the_offer_is_signed_like_every_webhook(app: Flask, phone: Phone) -> None:
    dropped_in_symptoms(phone)
    offered = call_again(phone).dial()
    assert offered.gather is not None
    action = offered.gather.get("action", "")
    form = {"CallSid": "CA" + "1" * 32, "From": phone.caller, "To": "+15005550001", "Digits": "1"}
    good = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + action, form)
    assert _post(app, action, form, signature="bad")[0] == 403
    # Another caller's place cannot be asked for by rewriting the state: the signature covers it.
    forged = action.replace("b=symptoms", "b=causes")
    assert forged != action and _post(app, forged, form, signature=good)[0] == 403
    status, body = _post(app, action, form, signature=good)
    assert status == 200 and part_said("symptoms", 2) in body


def test_the_offer_and_its_answer_count_against_the_callers_rate_limit() -> None:
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_CALLER_BURST=7,
        RATELIMIT_CALLER_PER_MINUTE=1,
        RATELIMIT_IP_BURST=1000,
        RATELIMIT_IP_PER_MINUTE=60000,
    )
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    turn = listen(phone, "1", "11", waits=0)  # 5 requests: /voice, the language, remember (1), 1, 1
    assert where(turn) == ("symptoms", 0)
    phone.hangup()
    again = call_again(phone)
    assert again.dial().says == offer("en", "Symptoms")  # 6
    assert where(again.press("1")) == ("symptoms", 0)  # 7: the burst is used up
    busy = again.press("1")
    assert busy.says == [EN.phrases.busy] and busy.ended


# The engine: pure, with the place as an input.


@pytest.mark.unit
def test_the_place_is_offered_only_to_a_returning_caller_and_only_while_it_exists() -> None:
    assert engine.start(LINE, "en", returning=True, place=Place("symptoms", 1)).state.node == CARRY_ON
    assert engine.start(LINE, "en", returning=False, place=Place("symptoms", 1)).state.node == TREE.root
    assert engine.start(LINE, None, place=Place("symptoms", 1)).state.node == "_language"
    gone = [Place("symptoms", TREE.part_count("symptoms")), Place("muscle_types", 0), Place("main", 0)]
    for place in gone:  # the content changed since: a part, a section that is no more, not a topic
        step = engine.start(LINE, "en", returning=True, place=place)
        assert step.state.node == TREE.root and step.say[0] == EN.phrases.welcome_back


@pytest.mark.unit
def test_a_call_the_line_places_never_names_the_callers_last_topic() -> None:
    # A call back (after a missed call) may be answered by anyone in the house, or a voicemail.
    step = engine.start(LINE, "en", returning=True, place=Place("symptoms", 1), calling_back=True)
    assert step.state.node == TREE.root
    said = " ".join(step.say)
    assert EN.phrases.calling_back in said and EN.phrases.welcome_back in said
    assert "Symptoms" not in said and "carry on" not in said.lower()


@pytest.mark.unit
def test_the_offer_state_travels_in_the_url_and_a_broken_one_is_refused() -> None:
    step = engine.start(LINE, "hi", "slow", returning=True, place=Place("junction", 0))
    assert step.state == CallState(
        CARRY_ON,
        lang="hi",
        rate="slow",
        ret="junction",
        ret_part=0,
        flags=CHOSEN | SAFETY | REMEMBERED | ASKED,
    )
    assert engine.state_from_query(LINE, engine.state_to_query(step.state)) == step.state
    query_of = engine.state_to_query(step.state)
    for broken in [
        {"b": ""},
        {"b": "main"},
        {"b": "categories"},
        {"b": "symptoms", "bp": str(TREE.part_count("symptoms"))},
        {"p": "1"},
    ]:
        assert engine.state_from_query(LINE, {**query_of, **broken}) is None, broken


@pytest.mark.unit
def test_the_edge_keeps_a_place_while_a_part_plays_and_forgets_it_at_the_topic_end() -> None:
    heard = CallState("symptoms", 2, flags=CHOSEN | GREETED | SAFETY | HINTED | REMEMBERED)
    assert engine.listening_at(LINE, heard) == Place("symptoms", 2)
    not_agreed = CallState("symptoms", 2, flags=CHOSEN | GREETED | SAFETY | HINTED)
    assert engine.listening_at(LINE, not_agreed) is None, "nothing kept for a caller who did not agree"
    assert not engine.topic_finished(LINE, heard)
    end = CallState("symptoms", TREE.part_count("symptoms"), flags=heard.flags)
    assert engine.listening_at(LINE, end) is None and engine.topic_finished(LINE, end)
    sections = TREE.topic_sections("categories")
    assert engine.listening_at(LINE, CallState(sections[0], 0, flags=heard.flags)) == Place(sections[0], 0)
    last = CallState(sections[-1], TREE.part_count(sections[-1]), flags=heard.flags)
    assert engine.topic_finished(LINE, last), "a series ends with its last section"
    assert engine.listening_at(LINE, CallState(TREE.root, flags=heard.flags)) is None
    assert not engine.topic_finished(LINE, CallState(TREE.root, flags=heard.flags))
    assert engine.listening_at(LINE, CallState("symptoms", 2, flags=heard.flags | KEPT)) is None


@pytest.mark.unit
@pytest.mark.parametrize("lang", ["en", "hi"])
def test_every_sentence_of_the_offer_comes_from_the_prompts(lang: str) -> None:
    p = CONTENT.prompts[lang].phrases
    for section in TREE.sections:
        step = engine.start(LINE, lang, returning=True, place=Place(section, 0))
        title = TREE.title(TREE.topic_of(section), lang).rstrip(".।")
        assert list(step.say) == offer(lang, title)
        assert step.say[3] == p.last_topic.format(topic=title)
        assert step.lang_of == ()
    # What 1 does there, as help says it, and nothing said at the offer is left out of help.
    state = engine.start(LINE, lang, returning=True, place=Place("symptoms", 0)).state
    helped = engine.next_step(LINE, state, CallerInput(digits="6"))
    assert helped.say[0] == offer(lang, "x")[4]


# The store, on SQLite and PostgreSQL.


ME = caller_hash("+919876543210", SALT)
YOU = caller_hash("+919876543211", SALT)


def agree(store: Store) -> None:
    """ME and YOU agreed to be remembered (only then is a place kept)."""
    for key in (ME, YOU):
        assert store.save_consent(key, "n1", language="en", rate="normal")


def test_a_place_is_kept_by_pseudonym_overwritten_and_forgotten(store: Store) -> None:
    assert store.save_consent(ME, "n1", language="hi", rate="normal")
    assert store.save_place(ME, "symptoms", 2)
    prefs = store.get_prefs(ME)
    assert prefs is not None and prefs.language == "hi" and prefs.place is not None
    assert (prefs.place.node, prefs.place.part) == ("symptoms", 2)
    assert abs((utc_now() - prefs.place.at).total_seconds()) < 60
    assert store.save_place(ME, "causes", 1)
    assert store.save_prefs(ME, rate="slow"), "a choice saved leaves the place alone"
    prefs = store.get_prefs(ME)
    assert (
        prefs is not None
        and prefs.place is not None
        and (prefs.place.node, prefs.place.part) == ("causes", 1)
    )
    assert (prefs.language, prefs.rate) == ("hi", "slow"), "a place saved leaves the choices alone"
    assert store.get_prefs(YOU) is None
    assert store.forget_place(ME)
    prefs = store.get_prefs(ME)
    assert prefs is not None and prefs.place is None and prefs.language == "hi"
    assert not store.save_place("+919876543210", "symptoms", 0), "a number is never a key"
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT caller_hash, place_node, place_at FROM callers")).all()
    assert [(r.caller_hash, r.place_node, r.place_at) for r in rows] == [(ME, None, None)]


def test_no_place_is_kept_for_a_caller_who_did_not_agree(store: Store) -> None:
    assert store.save_place(YOU, "symptoms", 1), "nothing went wrong..."
    assert store.get_prefs(YOU) is None
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(KnownCaller)).scalar_one() == 0, "...none kept"


def test_a_place_older_than_30_days_is_never_given_and_is_purged(store: Store) -> None:
    agree(store)
    assert store.save_place(ME, "symptoms", 1)
    assert store.save_place(YOU, "causes", 0)
    backdate(store, ME, KEEP_PLACE + timedelta(seconds=5))
    prefs = store.get_prefs(ME)
    assert prefs is not None and prefs.place is None, "not given, though not purged yet"
    young = store.get_prefs(YOU)
    assert young is not None and young.place is not None
    for age, given in [(KEEP_PLACE - timedelta(seconds=1), True), (KEEP_PLACE + timedelta(seconds=1), False)]:
        later = store.get_prefs(YOU, now=young.place.at + age)
        assert later is not None and (later.place is not None) is given, age
    assert store.prune_places() == 1
    with store.engine.connect() as conn:
        rows = {
            r.caller_hash: r.place_node
            for r in conn.execute(select(KnownCaller.caller_hash, KnownCaller.place_node))
        }
    assert rows == {ME: None, YOU: "causes"}
    assert store.prune_places() == 0


def test_batched_places_are_written_in_the_order_they_were_kept(store: Store) -> None:
    agree(store)
    store.batch_events(interval=60)  # written by flush() only, within this test
    store.save_place(ME, "symptoms", 0)
    store.save_place(ME, "symptoms", 1)
    store.forget_place(ME)
    store.save_place(YOU, "causes", 0)
    store.forget_place(YOU)
    store.save_place(YOU, "causes", 2)
    assert store.flush()
    me, you = store.get_prefs(ME), store.get_prefs(YOU)
    assert me is not None and me.place is None
    assert you is not None and you.place is not None and (you.place.node, you.place.part) == ("causes", 2)


def test_the_purge_runs_at_a_calls_start_at_most_every_ten_minutes(store: Store) -> None:
    agree(store)
    assert store.save_place(ME, "symptoms", 1)
    backdate(store, ME, KEEP_PLACE + timedelta(days=1))
    store._places_pruned_at = time.monotonic()  # pruned a moment ago: not again for ten minutes
    store.call_started("CA" + "2" * 32, YOU, "en")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT place_node FROM callers WHERE caller_hash = :k"), {"k": ME}).scalar()
    store._places_pruned_at = float("-inf")  # ten minutes on
    store.call_started("CA" + "3" * 32, YOU, "en")
    with store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT place_node FROM callers WHERE caller_hash = :k"), {"k": ME}).scalar()
            is None
        )
