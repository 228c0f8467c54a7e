"""Callers as they really use the line: listening without pressing, in an emergency, lost, slow, Hindi.

Every test goes through signed webhooks (the console phone signs like Twilio) and reads the
TwiML replies as XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.tree import fill
from ivr.engine import PART_PAUSE_S, Line, wording
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import (
    AUTH_TOKEN,
    BASE_URL,
    CALLBACK_DAYS,
    RECORDING_DAYS,
    SignedClient,
    answer,
    make_app,
)
from tests.support.twiml import SCHEMA_DIR, assert_valid_twiml, query, schema_at_hand

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
LANGS = {"1": "en", "2": "hi"}
EN, HI = CONTENT.prompts["en"].phrases, CONTENT.prompts["hi"].phrases
LINE = Line(content=CONTENT)
SUNDAY = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # 11:30 in India: every specialist is closed


def new_phone(app: Flask, caller: str | None = None) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=caller)


def at(turn: Turn) -> tuple[str, int]:
    """Where the reply leaves the caller: (node, part), from the Gather's action URL."""
    assert turn.gather is not None, (turn.says, turn.error)
    q = query(turn.gather.get("action", ""))
    return q["n"], int(q["p"])


def keyed_topics() -> list[str]:
    """Every topic a caller chooses by key: a section an option leads to, or a series."""
    return [o.goto for m in TREE.menus.values() for o in m.options if not TREE.is_menu(o.goto)]


def spoken_part(lang: str, node: str, part: int) -> str:
    return fill(TREE.section(node, lang).parts[part], "1 1 2")


# Topics play through -------------------------------------------------------------------------


@pytest.mark.parametrize("lang_key", ["1", "2"], ids=["english", "hindi"])
@pytest.mark.parametrize("topic", keyed_topics())
def test_a_caller_who_presses_nothing_hears_every_part_of_a_topic_then_its_end(
    phone: Phone, lang_key: str, topic: str
) -> None:
    lang = LANGS[lang_key]
    p = CONTENT.prompts[lang].phrases
    answer(phone, lang_key)
    for key in TREE.keys_to(topic)[:-1]:
        phone.press(key)
    turn = phone.press(TREE.keys_to(topic)[-1])
    heard: list[str] = []
    expected = [
        spoken_part(lang, s, i) for s in TREE.topic_sections(topic) for i in range(TREE.part_count(s))
    ]
    for _ in expected:
        node, part = at(turn)
        assert turn.gather is not None and int(turn.gather.get("timeout", "0")) == PART_PAUSE_S, (
            "a part is followed by a short pause, then the next part"
        )
        assert p.no_input not in turn.says, "listening is not a failure: no apology between parts"
        heard += [s for s in turn.says if s == spoken_part(lang, node, part)]
        turn = phone.wait()
    assert heard == expected, "every part, in order, once"
    end_node, end_part = at(turn)
    assert end_part == TREE.part_count(end_node) and end_node == TREE.topic_sections(topic)[-1]
    assert turn.says[0] == p.end_of_topic
    assert wording.key_lines(LINE, lang, wording.END_KEYS) == turn.says[-4:]
    assert answer_timeout(turn) > PART_PAUSE_S, "the end waits for the caller's choice"


def test_after_a_topics_end_silence_is_handled_as_at_a_menu(phone: Phone) -> None:
    answer(phone)
    phone.press("4")  # what they are: a single section
    turn = phone.wait()
    while at(turn)[1] < TREE.part_count("about"):
        turn = phone.wait()
    first = phone.wait()
    assert first.says[0] == EN.no_input and first.says[1:] == wording.key_lines(LINE, "en", wording.END_KEYS)
    phone.wait()
    warning = phone.wait()
    assert warning.says == [EN.final_warning, EN.offer_person]
    bye = phone.wait()
    assert bye.ended and bye.says == [EN.goodbye]


def test_keys_work_during_every_part_next_previous_repeat(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    first = phone.press("1")  # symptoms
    assert at(first) == ("symptoms", 0)
    assert wording.key_lines(LINE, "en", wording.TOPIC_KEYS) == first.says[-2:], "said in the first topic"
    second = phone.press("1")
    assert at(second) == ("symptoms", 1) and spoken_part("en", "symptoms", 1) in second.says
    again = phone.press("9")
    assert at(again) == ("symptoms", 1) and again.says == [spoken_part("en", "symptoms", 1)]
    back_a_part = phone.press("2")
    assert at(back_a_part) == ("symptoms", 0) and spoken_part("en", "symptoms", 0) in back_a_part.says
    first_part = phone.press("2")
    assert at(first_part) == ("symptoms", 0) and first_part.says[0] == EN.first_part
    menu = phone.press("*")
    assert at(menu) == ("symptoms_causes", 0)
    assert phone.press("#").says[0] == TREE.menus["main"].title["en"]


def test_the_part_keys_are_told_once_a_call(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    told = wording.key_lines(LINE, "en", wording.TOPIC_KEYS)
    assert phone.press("1").says[-2:] == told
    phone.press("*")
    assert not set(told) & set(phone.press("2").says), "not again in the next topic"


def test_hear_it_again_at_a_topics_end_replays_the_whole_topic_from_its_start(phone: Phone) -> None:
    answer(phone)
    phone.press("3")  # the six types: a series of sections
    turn = phone.wait()
    while at(turn)[1] < TREE.part_count(at(turn)[0]):
        turn = phone.wait()
    assert EN.end_of_topic in turn.says and "To hear it again from the start, press 1." in turn.says
    again = phone.press("1")
    first = TREE.topic_sections("categories")[0]
    assert at(again) == (first, 0) and again.says[0] == TREE.section(first, "en").title
    last = phone.press("2")
    assert at(last) == (TREE.topic_sections("categories")[0], 0), "2 at the first part stays there"
    assert last.says[0] == EN.first_part


def test_the_part_before_the_end_is_the_last_part(phone: Phone) -> None:
    answer(phone)
    phone.press("2")
    phone.press("2")  # referrals
    turn = phone.press("1")
    while at(turn)[1] < TREE.part_count("specialists"):
        turn = phone.press("1")
    before = phone.press("2")
    assert at(before) == ("specialists", TREE.part_count("specialists") - 1)


# Safety first -------------------------------------------------------------------------------


def test_a_new_caller_hears_the_emergency_sentence_first_in_both_languages(app: Flask) -> None:
    turn = new_phone(app).dial()
    assert at(turn) == ("_language", 0)
    first_two = [(h.text, h.language) for h in turn.heard[:2]]
    assert first_two == [
        (EN.safety.format(number="1 1 2"), "en-IN"),
        (HI.safety.format(number="1 1 2"), "hi-IN"),
    ], "before any choice: what to do in an emergency, in each language in its own voice"
    assert "hang up" in first_two[0][0] and "112" not in first_two[0][0], "said digit by digit"


def test_a_returning_caller_hears_it_right_after_the_welcome_in_their_language(app: Flask) -> None:
    first = new_phone(app, "+15550100001")
    first.dial()
    first.press("2")
    first.press("1")  # remember my language
    again = new_phone(app, "+15550100001").dial()
    assert again.says[:3] == [HI.welcome_back, HI.safety.format(number="1 1 2"), HI.disclaimer]
    assert {h.language for h in again.heard} == {"hi-IN"}


def test_a_new_caller_is_not_told_twice_and_gets_the_keys_once(phone: Phone) -> None:
    turn = answer(phone)
    assert EN.safety.format(number="1 1 2") not in turn.says
    assert turn.says[:2] == [EN.welcome, EN.disclaimer]
    keys = wording.key_lines(LINE, "en", wording.FIRST_CALL_KEYS)
    assert turn.says[-len(keys) :] == keys


def test_the_emergency_number_comes_from_the_settings_everywhere(phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(make_app(EMERGENCY_NUMBER="999"))
    assert phone.dial().says[0] == EN.safety.format(number="9 9 9")
    phone.press("1")
    phone.press("2")  # not remembered
    phone.press("1")
    symptoms = phone.press("1")
    assert symptoms.says[:2] == [
        TREE.section("symptoms", "en").title,
        spoken_part("en", "symptoms", 0).replace("1 1 2", "9 9 9"),
    ]
    assert "call 9 9 9" in symptoms.says[1] and "breathing" in symptoms.says[1]
    assert phone.press("5").says[0] == EN.emergency_advice.format(number="9 9 9")


@pytest.mark.unit
def test_breathing_and_swallowing_trouble_is_the_first_thing_symptoms_says() -> None:
    for lang in ("en", "hi"):
        first = TREE.section("symptoms", lang).parts[0]
        assert "{emergency}" in first
    assert "breathing" in TREE.section("symptoms", "en").parts[0].lower()
    assert "swallowing" in TREE.section("symptoms", "en").parts[0].lower()
    assert (
        "साँस" in TREE.section("symptoms", "hi").parts[0] and "निगल" in TREE.section("symptoms", "hi").parts[0]
    )


# 0 is never a dead end -----------------------------------------------------------------------


def every_place() -> list[tuple[str, int]]:
    places = [(n, 0) for n in TREE.menus]
    places += [(s, i) for s in TREE.sections for i in range(TREE.part_count(s))]
    places += [(s, TREE.part_count(s)) for s in TREE.sections if TREE.neighbour(s, +1) is None]
    return [*places, ("_emergency", 0), ("_language", 0), ("_specialist", 0)]


@pytest.mark.parametrize(("node", "part"), every_place())
def test_zero_with_no_one_to_take_the_call_offers_a_call_back_and_a_question(node: str, part: int) -> None:
    # No help desk number, no specialists' numbers, and a Sunday: the clinic's queue is closed too.
    app = make_app(CLOCK=lambda: SUNDAY)
    client = SignedClient(app)
    path = f"/voice/step?n={node}&p={part}&s=0&m=0&l=en&f=7" + ("&b=main" if node.startswith("_") else "")
    status, root = client.post(path, {"Digits": "0"})
    assert status == 200 and root is not None
    said = [(s.text or "").strip() for s in root.iter("Say")]
    gather = root.find("Gather")
    assert gather is not None and query(gather.get("action", ""))["n"] == "_specialist"
    assert (
        EN.offer_callback.format(days=CALLBACK_DAYS) in said
        and EN.offer_record.format(days=RECORDING_DAYS) in said
        and EN.go_back in said
    )
    closed = [s for s in said if s.startswith("You cannot reach") and "They take calls" in s]
    assert said[0] == EN.operator_unavailable or said[0] in closed, "why, and when they are open where known"
    # The call back is real: it is saved, with the caller's number, and confirmed.
    back = query(gather.get("action", ""))
    status, confirmed = client.post(
        "/voice/step?" + "&".join(f"{k}={v}" for k, v in back.items()), {"Digits": "1"}
    )
    assert status == 200 and confirmed is not None
    told = [(s.text or "").strip() for s in confirmed.iter("Say")]
    assert any(t.startswith("Thank you. We will ask") and " ".join(client.caller[-4:]) in t for t in told), (
        told
    )
    store = services.store(app)
    # (the test apps share one database: count this caller's)
    mine = [c for c in store.callbacks(limit=10_000) if c.callback_number == client.caller]
    assert len(mine) == 1 and mine[0].language == "en"


def test_out_of_hours_zero_says_when_they_are_open() -> None:
    phone = new_phone(
        make_app(CLOCK=lambda: SUNDAY, DIRECTORY_ENV={"IVR_NEUROLOGIST_NUMBER": "+911140000001"})
    )
    answer(phone)
    phone.press("2")
    turn = phone.press("0")
    assert CONTENT.directory is not None
    said_hours = CONTENT.directory.specialties["neurologist"].hours_said
    assert said_hours is not None
    hours = said_hours["en"]
    assert turn.says[0] == EN.closed.format(name="a neurologist", hours=hours)
    assert turn.says[1:] == [
        EN.offer_callback.format(days=CALLBACK_DAYS),
        EN.offer_record.format(days=RECORDING_DAYS),
        EN.go_back,
    ]


def test_a_closed_specialist_offers_the_help_desk_when_it_can_take_the_call_now() -> None:
    evening = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)  # 19:00 in India: the neurologist is closed
    numbers = {"IVR_NEUROLOGIST_NUMBER": "+911140000001"}
    phone = new_phone(make_app(CLOCK=lambda: evening, OPERATOR_NUMBER="+911140000009", DIRECTORY_ENV=numbers))
    answer(phone)
    phone.press("2")
    turn = phone.press("0")
    assert turn.says[1:] == [
        EN.offer_callback.format(days=CALLBACK_DAYS),
        EN.offer_record.format(days=RECORDING_DAYS),
        EN.offer_desk,
        EN.go_back,
    ]
    phone.dial_outcome = "busy"
    desk = phone.press("3")
    assert desk.dialed == ["+911140000009"]
    assert at(desk) == ("_specialist", 0)
    assert desk.says == [
        EN.connecting_to.format(name="the help desk"),
        EN.dial_failed,
        EN.offer_callback.format(days=CALLBACK_DAYS),
        EN.offer_record.format(days=RECORDING_DAYS),
        EN.go_back,
    ], "the help desk did not answer: it is not offered again"
    back = phone.press("*")
    assert at(back) == ("treatment", 0)


def test_the_help_desk_is_not_offered_instead_of_itself_nor_when_it_is_not_set_up() -> None:
    evening = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)
    numbers = {"IVR_NEUROLOGIST_NUMBER": "+911140000001"}
    phone = new_phone(make_app(CLOCK=lambda: evening, DIRECTORY_ENV=numbers))  # no help desk number
    answer(phone)
    phone.press("2")
    assert EN.offer_desk not in phone.press("0").says
    assert at(phone.press("3")) == ("_specialist", 0), "3 is not an option there"


# Recovery escalates --------------------------------------------------------------------------


@pytest.mark.parametrize("mistake", ["key", "words"])
def test_failures_in_a_row_escalate_offer_a_person_then_warn_then_end(phone: Phone, mistake: str) -> None:
    answer(phone)
    options = wording.options(LINE, "en", "main")

    def wrong() -> Turn:  # 8 asks for a text, which only a topic can send
        return phone.press("8") if mistake == "key" else phone.say("turn the volume down")

    first = wrong()
    assert first.says[1:] == options, "said once: sorry, then the options"
    second = wrong()
    assert second.says[1:] == [EN.offer_person, *options], (
        "the second in a row offers a person or a call back"
    )
    third = wrong()
    # Someone who cannot make themselves understood may be in trouble: the way out comes first.
    assert third.says[1:] == [wording.safety(LINE, "en"), EN.misses_warning, EN.offer_person]
    assert at(third) == ("main", 0)
    fourth = wrong()
    if mistake == "key":
        assert fourth.ended and fourth.says == [EN.goodbye]
    else:  # a caller who keeps talking is never hung up on: a person, or the call-back choices
        assert not fourth.ended
        assert fourth.says[0] == EN.not_understood
        assert at(fourth)[0] == "_specialist" and EN.operator_unavailable in fourth.says
    assert EN.state_lost not in first.says + second.says + third.says + fourth.says


def test_a_good_key_between_mistakes_starts_the_count_again(phone: Phone) -> None:
    answer(phone)
    phone.press("8")
    phone.say("blah blah")
    phone.press("9")
    again = phone.say("blah blah")
    assert EN.offer_person not in again.says


def test_background_speech_never_hangs_on_forever_nor_blames_the_line(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    phone.press("1")  # in a topic
    for _ in range(10):
        turn = phone.say("turn the volume down")
        assert EN.state_lost not in turn.says
        if phone.ended:
            break
    assert phone.ended and turn.says == [EN.goodbye]


def test_after_asking_for_more_time_the_silence_is_not_blamed(phone: Phone) -> None:
    answer(phone)
    waiting = phone.say("hold on")
    assert waiting.says == [EN.more_time]
    first = answer_timeout(waiting)
    resumed = phone.wait()
    assert EN.no_input not in resumed.says and resumed.says == wording.options(LINE, "en", "main")
    assert first >= 3 * 8
    later = phone.wait()
    assert later.says[0] == EN.no_input, "after that, silence is counted as usual"


def answer_timeout(turn: Turn) -> int:
    assert turn.gather is not None
    return int(turn.gather.get("timeout", "0"))


# Keys mean what they say --------------------------------------------------------------------


def test_seven_switches_slow_and_back_and_never_speeds_up(phone: Phone) -> None:
    answer(phone)
    slow = phone.press("7")
    assert slow.says[0] == EN.rate_slow and rates(slow) == {"80%"}
    normal = phone.press("7")
    assert normal.says[0] == EN.rate_normal and rates(normal) == {None}, "pressed twice: normal, not faster"
    assert "To hear me more slowly, press 7." in help_of(phone)
    phone.press("7")
    assert "To hear me at normal speed, press 7." in help_of(phone), "help says what 7 does now"


def test_slower_at_the_slowest_says_so_and_faster_steps_up(phone: Phone) -> None:
    answer(phone)
    assert phone.say("slower").says[0] == EN.rate_slow
    slowest = phone.say("slower")
    assert slowest.says[0] == EN.rate_slowest and rates(slowest) == {"80%"}
    assert phone.say("faster").says[0] == EN.rate_normal
    fast = phone.say("faster")
    assert fast.says[0] == EN.rate_fast and rates(fast) == {"125%"}
    assert phone.say("faster").says[0] == EN.rate_fastest
    assert phone.press("7").says[0] == EN.rate_normal, "7 from fast goes back to normal"


def rates(turn: Turn) -> set[str | None]:
    return {h.prosody_rate for h in turn.heard}


def help_of(phone: Phone) -> list[str]:
    turn = phone.press("6")
    said = list(turn.says)
    if said and said[-1] in (EN.help_more, HI.help_more):
        said += phone.press("6").says
    return said


@pytest.mark.parametrize(("node", "part"), [p for p in every_place() if p[0] != "_specialist"])
def test_every_key_help_offers_works_there_and_help_fits_in_two_short_pages(node: str, part: int) -> None:
    app = make_app()
    client = SignedClient(app)
    base = f"/voice/step?n={node}&p={part}&s=0&m=0&l=en&f=7" + ("&b=main" if node.startswith("_") else "")
    status, first = client.post(base, {"Digits": "6"})
    assert status == 200 and first is not None
    pages = [[(s.text or "").strip() for s in first.iter("Say")]]
    g = first.find("Gather")
    assert g is not None
    if pages[0][-1] == EN.help_more:
        action = query(g.get("action", ""))
        _, second = client.post(
            "/voice/step?" + "&".join(f"{k}={v}" for k, v in action.items()), {"Digits": "6"}
        )
        assert second is not None
        pages.append([(s.text or "").strip() for s in second.iter("Say")])
    assert len(pages) <= 2 and all(len(page) <= 5 for page in pages)
    offered = [line for page in pages for line in page if line != EN.help_more]
    for line in offered:
        key = line.rsplit("press ", 1)[1].rstrip(".")
        key = {"star": "*", "hash": "#"}.get(key, key)
        status, reply = client.post(base, {"Digits": key})
        assert status == 200 and reply is not None
        said = [(s.text or "").strip() for s in reply.iter("Say")]
        assert not any(s.startswith("Sorry,") and "not an option" in s for s in said), (
            node,
            part,
            line,
            said,
        )
        assert EN.sms_in_menu not in said, (node, part, line)


def test_help_in_a_menu_never_offers_a_text(phone: Phone) -> None:
    answer(phone)
    assert not any("text" in s for s in help_of(phone))
    phone.press("1")
    assert not any("text" in s for s in help_of(phone))
    phone.press("1")
    assert "To get it by text, press 8." in help_of(phone)


# The language menu is for everyone ----------------------------------------------------------


def bilingual(turn: Turn) -> bool:
    return {h.language for h in turn.heard} == {"en-IN", "hi-IN"}


@pytest.mark.parametrize("key", ["3", "6", "5", "0", "8"])
def test_before_a_language_is_chosen_every_reply_is_in_both(phone: Phone, key: str) -> None:
    phone.dial()
    turn = phone.press(key)
    assert bilingual(turn), turn.says
    english = [h.text for h in turn.heard if h.language == "en-IN"]
    hindi = [h.text for h in turn.heard if h.language == "hi-IN"]
    assert len(english) >= 1 and len(hindi) >= 1


def test_words_the_line_does_not_know_are_answered_in_both_too(phone: Phone) -> None:
    phone.dial()
    turn = phone.say("purple elephant")
    assert bilingual(turn)
    assert EN.not_understood in turn.says and HI.not_understood in turn.says
    assert "purple" not in turn.text, "the caller's words are not read back"


@pytest.mark.parametrize("key", ["*", "#"])
def test_star_and_hash_at_the_language_menu_keep_the_welcome_and_disclaimer(phone: Phone, key: str) -> None:
    phone.dial()
    turn = phone.press(key)
    assert at(turn) == ("main", 0)
    assert EN.welcome in turn.says and EN.disclaimer in turn.says
    assert HI.switch_language in turn.says


def test_silence_at_the_language_menu_keeps_english_and_says_in_hindi_how_to_switch(phone: Phone) -> None:
    first = phone.dial()
    assert [h.text for h in first.heard if h.language == "en-IN"][-1] == CONTENT.prompts[
        "en"
    ].phrases.language_by_name
    assert [h.text for h in first.heard if h.language == "hi-IN"][-1] == HI.language_by_name
    turn = phone.wait()
    assert at(turn) == ("main", 0)
    assert (turn.heard[0].text, turn.heard[0].language) == (HI.switch_language, "hi-IN")
    assert EN.no_input not in turn.says and EN.welcome in turn.says
    again = phone.wait()
    assert (again.heard[0].text, again.heard[0].language) == (HI.switch_language, "hi-IN"), (
        "said again with each re-prompt while the language was only kept"
    )
    assert again.says[1] == EN.no_input
    asked = phone.press("*")  # as the hint says: star, straight to Hindi (a choice: may it be remembered?)
    assert at(asked) == ("_consent", 0) and asked.says[0] == HI.consent_ask
    switched = phone.press("2")
    assert at(switched) == ("main", 0)
    assert switched.says[:2] == [HI.welcome, HI.disclaimer], (
        "the first Hindi a caller hears is the full welcome"
    )
    assert {h.language for h in switched.heard} == {"hi-IN"}
    assert switched.says[-2:] == wording.key_lines(LINE, "hi", wording.FIRST_CALL_KEYS)
    assert at(phone.press("*")) == ("_language", 0), "once chosen, star at the main menu is the language menu"


def test_after_keeping_english_saying_hindi_gives_the_full_hindi_welcome(phone: Phone) -> None:
    phone.dial()
    phone.wait()
    asked = phone.say("हिंदी")
    assert at(asked) == ("_consent", 0) and asked.says[0] == HI.consent_ask
    hindi = phone.wait()  # silence: not remembered, on to the welcome
    assert at(hindi) == ("main", 0) and hindi.says[:2] == [HI.welcome, HI.disclaimer]
    assert HI.switch_language not in hindi.says and EN.switch_language not in hindi.says


def test_anything_said_at_the_final_warning_keeps_the_call_going(phone: Phone) -> None:
    answer(phone)
    for _ in range(3):
        turn = phone.wait()
    assert turn.says == [EN.final_warning, EN.offer_person]
    going = phone.say("hello?")
    assert not going.ended and EN.not_understood not in going.says
    assert going.says == wording.menu_prompt(LINE, "en", "main", full=True), "the main menu again, in full"
    assert phone.wait().says[0] == EN.no_input, "and the count starts again"


def test_speech_that_is_only_symbols_counts_as_silence(phone: Phone) -> None:
    answer(phone)
    turn = phone.say("🙏🙏 !!! ...")
    assert turn.says[0] == EN.no_input


def test_the_misses_warning_waits_the_usual_time_even_in_a_topic(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    phone.press("1")  # symptoms, playing
    for _ in range(2):
        phone.press("3")
    warning = phone.press("3")
    assert warning.says == [
        EN.not_an_option.format(heard="3"),
        wording.safety(LINE, "en"),
        EN.misses_warning,
        EN.offer_person,
    ]
    assert answer_timeout(warning) > PART_PAUSE_S
    resumed = phone.wait()
    assert at(resumed) == ("symptoms", 0) and EN.no_input not in resumed.says, "then the same part, unblamed"


# Honest governance --------------------------------------------------------------------------


def test_unsigned_topics_say_when_they_were_updated_not_reviewed(phone: Phone) -> None:
    answer(phone)
    phone.press("4")
    turn = phone.press("1")
    while at(turn)[1] < TREE.part_count("about"):
        turn = phone.press("1")
    updated = [s for s in turn.says if "updated" in s]
    assert updated == ["This information was last updated in November 2026."]
    assert not any("review" in s for s in turn.says)


@pytest.mark.unit
def test_every_treatment_topic_and_its_text_say_there_is_no_cure_for_most() -> None:
    from ivr.engine import Line
    from ivr.phone.texts import topic_text

    line = Line(content=CONTENT)
    for node in TREE.below("treatment"):
        assert "no cure for most" in TREE.section(node, "en").parts[0]
        assert "पूरी तरह ठीक नहीं होतीं" in TREE.section(node, "hi").parts[0]
        assert "no cure for most" in topic_text(line, node, CONTENT.prompts["en"], "en")


def test_every_reply_here_is_valid_twiml(phone: Phone) -> None:
    answer(phone)
    for key in ["1", "1", "6", "6", "7", "0", "*", "5", "*"]:
        turn = phone.press(key)
        for doc in turn.documents:
            assert_valid_twiml(ET.tostring(doc))


@pytest.mark.unit
def test_twilio_schema_is_at_hand() -> None:
    if not schema_at_hand():
        pytest.skip(f"no TwiML schema at {SCHEMA_DIR} (set IVR_TWIML_SCHEMA): replies were not validated")
    assert_valid_twiml("<Response><Say>Hello.</Say><Gather input='dtmf' timeout='2'/></Response>")
    with pytest.raises(AssertionError):
        assert_valid_twiml("<Response><Whisper>not a verb</Whisper></Response>")


def test_each_request_is_its_callers_own_even_inside_one_app_context() -> None:
    # The console phone (and any script) runs many calls inside one app context: a caller worked
    # out for one request must not be taken for the next one's.
    app = make_app()
    with app.app_context():
        known = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller="+919812300001")
        answer(known, "2", remember=True)  # chooses Hindi: welcomed back in Hindi next time
        known.hangup()
        again = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller="+919812300001")
        assert again.dial().says[0] == CONTENT.prompts["hi"].phrases.welcome_back
        stranger = Phone(
            FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller="+919812300002"
        )
        first = stranger.dial()
        assert CONTENT.prompts["hi"].phrases.welcome_back not in first.says
        assert query(first.gather.get("action", "") if first.gather is not None else "")["n"] == "_language"
