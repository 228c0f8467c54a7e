"""Consent by voice: nothing is remembered of a caller unless, once they chose a language, they
pressed 1 at "To have me remember your language, speed and where you stop next time, press 1."."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from ivr import engine, services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import ASKED, CONSENT, HIDDEN, REMEMBERED, CallerInput, Line
from ivr.privacy import caller_hash
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.store import make_engine, migrate
from ivr.store.models import KnownCaller
from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, answer, indian_mobile, make_app
from tests.support.twiml import gather, node_of, query, spoken

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
EN, HI = CONTENT.prompts["en"].phrases, CONTENT.prompts["hi"].phrases
SALT = "test-salt"  # make_app's HASH_SALT


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """A line on a database of its own: what is kept is this test's alone."""
    made = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    yield made
    services.store(made).dispose()


def asked(lang_phrases: Any) -> list[str]:
    """The question as said: what is kept and why, with the key, in one sentence."""
    return [lang_phrases.consent_ask]


def thanked(lang_phrases: Any, days: int = 365) -> list[str]:
    """What a yes hears first: thanks, then how it is kept and for how long."""
    return [lang_phrases.consent_given, lang_phrases.consent_keep.format(days=days)]


def kept_rows(app: Flask) -> list[Any]:
    """Every caller the line remembers, with their consent."""
    with services.store(app).engine.connect() as conn:
        return list(conn.execute(select(KnownCaller)).all())


def call_again(phone: Phone) -> Phone:
    return Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH_TOKEN, caller=phone.caller)


def answered_in_words(app: Flask, lang_key: str, words: str) -> tuple[Turn, Any]:
    """A new caller chooses a language by `lang_key` and answers the question with `words`: what
    they hear next, and that language's phrases."""
    phone = new_phone(app)
    phone.dial()
    phone.press(lang_key)
    return phone.say(words), EN if lang_key == "1" else HI


def new_phone(app: Flask, caller: str | None = None) -> Phone:
    return Phone(
        FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=caller or indian_mobile()
    )


def test_the_question_comes_right_after_the_language_chosen_in_that_language_as_twiml(app: Flask) -> None:
    signed = SignedClient(app)
    _, chooser = signed.post("/voice")
    assert chooser is not None
    question = signed.follow(chooser, {"Digits": "2"})
    assert spoken(question) == asked(HI), "नोटिस, हिंदी में, 1 दबाने से पहले कुंजी के साथ"
    found = gather(question)
    assert node_of(question) == CONSENT and found.get("language") == "hi-IN" and found.get("numDigits") == "1"
    assert int(query(found.get("action", ""))["f"], 16) & ASKED, "asked once: the state says so"
    welcome = signed.follow(question, {"Digits": "1"})
    assert spoken(welcome)[:4] == [*thanked(HI), HI.welcome, HI.disclaimer]
    assert node_of(welcome) == CONTENT.tree.root
    (row,) = kept_rows(app)
    assert row.caller_hash == caller_hash(signed.caller, SALT) and (row.language, row.rate) == (
        "hi",
        "normal",
    )
    assert row.consent_at is not None and row.consent_version == engine.notice_version(services.line(app))


def test_consent_given_the_next_call_is_welcomed_back_in_that_language_and_speed(app: Flask) -> None:
    phone = new_phone(app)
    answer(phone, "2", remember=True)
    phone.press("7")  # slower, after agreeing: kept too
    phone.hangup()
    again = call_again(phone).dial()
    assert again.says[0] == HI.welcome_back
    assert {h.language for h in again.heard} == {"hi-IN"} and {h.prosody_rate for h in again.heard} == {"80%"}
    assert engine.CONSENT not in str(again.gather.get("action", "") if again.gather is not None else "")
    star = call_again(phone)
    star.dial()
    star.press("*")  # a remembered caller is never asked again: a new language is simply kept
    switched = star.press("1")
    assert switched.says[0] == EN.language_set and EN.consent_ask not in switched.says
    assert call_again(phone).dial().says[0] == EN.welcome_back


@pytest.mark.parametrize("how", ["2", "silence", "no", "नहीं"])
def test_declined_or_silent_nothing_is_kept_and_the_next_call_is_a_new_callers(app: Flask, how: str) -> None:
    phone = new_phone(app)
    phone.dial()
    assert phone.press("1").says == asked(EN)
    if how == "2":
        welcome = phone.press("2")
    elif how == "silence":
        welcome = phone.wait()
    else:
        welcome = phone.say(how)
    assert welcome.says[:2] == [EN.welcome, EN.disclaimer], "no 'I did not hear anything', no blame"
    phone.press("7")  # a speed change is not kept either
    phone.press("1")
    phone.press("1")
    assert phone.wait().says  # a topic's parts play: no place is kept
    phone.hangup()
    assert kept_rows(app) == [], "no row, no value: nothing remembered without the choice"
    again = call_again(phone).dial()
    assert again.says[:2] == [EN.safety.format(number="1 1 2"), HI.safety.format(number="1 1 2")]
    assert again.gather is not None and "n=_language" in again.gather.get("action", "")


def test_asked_at_most_once_a_call_and_not_when_only_kept_by_default(app: Flask) -> None:
    phone = new_phone(app)
    phone.dial()
    kept = phone.wait()  # silence: English kept, nothing chosen, nothing asked
    assert EN.consent_ask not in kept.says and kept.says[1] == EN.welcome
    switched = phone.press("*")  # star switches to Hindi: a choice, so asked now
    assert switched.says == asked(HI)
    phone.press("2")
    phone.press("*")
    back = phone.press("1")  # English chosen again: not asked twice in one call
    assert back.says[0] == EN.language_set and EN.consent_ask not in back.says
    assert kept_rows(app) == []


def test_a_mid_call_choice_is_asked_about_then_the_caller_is_back_where_they_were(app: Flask) -> None:
    phone = new_phone(app)
    phone.dial()
    causes = phone.say("causes")  # a topic named before choosing: English, not a choice, not asked
    assert causes.gather is not None and query(causes.gather.get("action", ""))["n"] == "causes"
    assert EN.consent_ask not in causes.says
    hindi = phone.say("Hindi")
    assert hindi.says == [HI.language_set, *asked(HI)]
    back = phone.press("1")
    assert back.says[:2] == thanked(HI)
    assert back.gather is not None and query(back.gather.get("action", ""))["n"] == "causes"
    (row,) = kept_rows(app)
    assert row.language == "hi"


def test_any_other_key_or_words_are_taken_as_said_at_the_main_menu(app: Flask) -> None:
    phone = new_phone(app)
    phone.dial()
    phone.press("1")
    types = phone.press("3")  # the six types, after the disclaimer the welcome would have said
    assert types.says[0] == EN.disclaimer
    first = CONTENT.tree.first_section("categories")
    assert types.gather is not None and query(types.gather.get("action", ""))["n"] == first
    other = new_phone(app)
    other.dial()
    other.press("1")
    said = other.say("treatment")
    assert said.gather is not None and query(said.gather.get("action", ""))["n"] == "treatment"
    assert kept_rows(app) == []


def test_a_withheld_number_is_never_asked_and_nothing_is_kept(app: Flask) -> None:
    phone = new_phone(app, "anonymous")
    phone.dial()
    welcome = phone.press("2")
    assert welcome.says[0] == HI.welcome and HI.consent_ask not in welcome.says
    assert kept_rows(app) == []


@pytest.mark.parametrize("words", ["yes", "हाँ", "haan", "remember me"])
def test_yes_can_be_said(app: Flask, words: str) -> None:
    phone = new_phone(app)
    phone.dial()
    phone.press("1")
    assert phone.say(words).says[:2] == thanked(EN)
    assert len(kept_rows(app)) == 1


@pytest.mark.parametrize(
    ("words", "lang_key"),
    [
        ("yes please", "1"),
        ("please remember me", "1"),
        ("haan ji", "2"),
        ("theek hai", "2"),
        ("याद रखना", "2"),
    ],
)
def test_other_ways_of_saying_yes_agree(app: Flask, words: str, lang_key: str) -> None:
    said, p = answered_in_words(app, lang_key, words)
    assert said.says[:3] == [*thanked(p), p.welcome]
    assert len(kept_rows(app)) == 1


@pytest.mark.parametrize(
    ("words", "lang_key"),
    [
        ("no thanks", "1"),
        ("don't remember", "1"),
        ("do not keep it", "1"),
        ("not now", "1"),
        ("nahi chahiye", "2"),
        ("mat rakho", "2"),
        ("मत रखो", "2"),
        ("याद मत रखिए", "2"),
        ("mujhe yaad mat rakhna", "2"),
        ("forget me", "1"),
    ],
)
def test_other_ways_of_saying_no_decline_and_keep_nothing(app: Flask, words: str, lang_key: str) -> None:
    said, p = answered_in_words(app, lang_key, words)
    assert said.says[:2] == [p.welcome, p.disclaimer], "declined: the welcome, no 'not understood'"
    assert said.gather is not None and query(said.gather.get("action", ""))["n"] == CONTENT.tree.root
    assert kept_rows(app) == []


@pytest.mark.parametrize(("lang_key", "how"), [("1", "I can't breathe"), ("2", "साँस नहीं आ रही"), ("1", "5")])
def test_an_emergency_at_the_question_hears_the_emergency_advice_first(
    app: Flask, lang_key: str, how: str
) -> None:
    phone = new_phone(app)
    phone.dial()
    phone.press(lang_key)
    said = phone.press(how) if how.isdigit() else phone.say(how)
    p = EN if lang_key == "1" else HI
    assert said.says[0] == p.emergency_advice.format(number="1 1 2"), "nothing before it"
    assert said.gather is not None and query(said.gather.get("action", ""))["n"] == engine.EMERGENCY
    assert kept_rows(app) == []


def test_a_database_that_is_down_is_never_said_to_remember(tmp_path: Path) -> None:
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")  # nothing listens there
    phone = new_phone(app)
    phone.dial()
    assert phone.press("2").says == asked(HI)
    said = phone.press("1")
    assert HI.consent_given not in said.says, "'I will remember' only once it is kept"
    assert said.says[:3] == [HI.consent_failed, HI.welcome, HI.disclaimer]
    assert said.gather is not None and query(said.gather.get("action", ""))["n"] == CONTENT.tree.root
    assert not int(query(said.gather.get("action", ""))["f"], 16) & REMEMBERED, "not treated as kept"


def test_what_a_yes_hears_of_how_long_is_the_setting(tmp_path: Path) -> None:
    app = make_app(RETAIN_PREFS_DAYS=30, DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    phone = new_phone(app)
    phone.dial()
    assert phone.press("1").says == asked(EN)
    with services.store(app).engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(KnownCaller)).scalar_one() == 0
    assert phone.press("1").says[:2] == thanked(EN, days=30)


@pytest.mark.unit
def test_the_engine_never_asks_a_remembered_caller_or_a_hidden_number() -> None:
    line = Line(content=CONTENT)
    remembered = engine.start(line, None, remembered=True)
    assert remembered.state.has(REMEMBERED | ASKED)
    chosen = engine.next_step(line, remembered.state, CallerInput(digits="2"))
    assert chosen.state.node == CONTENT.tree.root and chosen.event == "language:hi"
    hidden = engine.start(line, None, hidden=True)
    assert hidden.state.has(HIDDEN | ASKED)
    assert engine.next_step(line, hidden.state, CallerInput(digits="1")).state.node == CONTENT.tree.root
    new = engine.start(line, None)
    question = engine.next_step(line, new.state, CallerInput(digits="1"))
    assert question.state.node == CONSENT and question.say == tuple(asked(EN))
    assert engine.state_from_query(line, engine.state_to_query(question.state)) == question.state


def test_a_caller_remembered_before_consent_existed_is_a_new_caller_after_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine, "0007")  # the line as it was: it remembered without asking
    number = indian_mobile()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO callers (caller_hash, language, rate, first_seen, last_seen)"
                " VALUES (:key, 'hi', 'slow', :at, :at)"
            ),
            {"key": caller_hash(number, SALT), "at": datetime(2026, 11, 1, 9, 0)},
        )
    engine.dispose()
    app = make_app(DATABASE_URL=url)  # migrates at start: 0009 forgets them
    first = new_phone(app, number).dial()
    assert HI.welcome_back not in first.says
    assert first.gather is not None and "n=_language" in first.gather.get("action", ""), "asked as new"
    assert first.says[0] == EN.safety.format(number="1 1 2")
    services.store(app).dispose()
