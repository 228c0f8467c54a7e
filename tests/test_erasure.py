"""Erasure: "forget me" by voice (words or star then 3), `flask data erase NUMBER` for staff, and
the recordings' audio deleted at Twilio, retried by the purge when Twilio cannot be reached."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.phone.erasure import InvalidNumberError, erase_number
from ivr.simulator import FlaskTransport, Phone
from ivr.store import Store
from ivr.store.audit import CALLER_BY_VOICE, ERASE
from ivr.store.erasure import Erased
from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, make_app
from tests.support.personal import EVERYTHING, NOTHING, Seeded, held, seed_caller
from tests.support.replay import deliver, waiting_action
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.twiml import node_of, spoken

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
EN, HI = CONTENT.prompts["en"].phrases, CONTENT.prompts["hi"].phrases
ROOT = CONTENT.tree.root
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ME, YOU = "+919812345678", "+919812345679"


@pytest.fixture
def fake() -> FakeTwilioHttp:
    return FakeTwilioHttp()


@pytest.fixture
def app(tmp_path: Path, fake: FakeTwilioHttp) -> Iterator[Flask]:
    """A line on a database of its own, with Twilio's REST API faked at its edge."""
    made = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}", TWILIO_HTTP_CLIENT=fake)
    yield made
    services.store(made).dispose()


@pytest.fixture
def both(app: Flask) -> tuple[Seeded, Seeded]:
    """Two callers with every kind of data: the one asking to be forgotten, and another."""
    store = services.store(app)
    return seed_caller(store, ME, AT), seed_caller(store, YOU, AT)


def deletes(fake: FakeTwilioHttp) -> list[str]:
    """The recordings the line asked Twilio to delete, by the URI it used."""
    return [sent.uri for sent in fake.sent if sent.method.upper() == "DELETE"]


def phone_of(app: Flask, number: str) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=number)


FORGET_QUESTION = [EN.forget_what, EN.forget_keys]


def asking_to_forget(app: Flask, words: str = "forget me") -> Phone:
    """The seeded caller ME, welcomed back, who has just said `words` and hears the question."""
    phone = phone_of(app, ME)
    phone.dial()
    phone.say(words)
    return phone


# By voice.


@pytest.mark.parametrize(
    ("words", "lang"),
    [
        ("forget me", "en"),
        ("delete my data", "en"),
        ("मुझे भूल जाओ", "hi"),
        ("mujhe bhool jao", "hi"),
        ("mera number hata do", "hi"),
        ("delete everything about me", "en"),
        ("don't keep my number", "en"),
        ("stop remembering me", "en"),
        ("meri jaankari hata do", "hi"),
        ("मेरी जानकारी मिटा दो", "hi"),
        ("mujhe yaad mat rakhna", "hi"),
        ("मेरा नंबर डिलीट कर दो", "hi"),
    ],
)
def test_forget_me_by_words_erases_every_kind_and_only_theirs(
    app: Flask, both: tuple[Seeded, Seeded], fake: FakeTwilioHttp, words: str, lang: str
) -> None:
    me, you = both
    p = CONTENT.prompts[lang].phrases
    phone = phone_of(app, ME)
    welcomed = phone.dial()
    assert welcomed.says[0] == HI.welcome_back, "remembered: they agreed"
    if lang == "en":
        phone.press("*")
        phone.press("1")  # English now, said in English from here
    asked = phone.say(words)
    assert asked.says == [p.forget_what, p.forget_keys]
    done = phone.press("1")
    assert done.says[0] == p.forget_done
    assert done.gather is not None and f"n={ROOT}" in done.gather.get("action", ""), "then the main menu"
    store = services.store(app)
    assert held(store, me) == NOTHING, "every kind gone, the recording's audio at Twilio too"
    assert deletes(fake) == [
        f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{me.recording_sid}.json"
    ]
    assert held(store, you) == EVERYTHING, "another caller's data stays"
    assert store.events_for(me.call_sid), "their journeys stay, as anonymous figures"
    phone.hangup()
    again = phone_of(app, ME).dial()
    assert again.gather is not None and "n=_language" in again.gather.get("action", ""), "a new caller now"


def test_star_then_3_at_the_main_menu_forgets_as_twiml(app: Flask, both: tuple[Seeded, Seeded]) -> None:
    me, you = both
    signed = SignedClient(app)
    signed.caller = ME
    _, welcome = signed.post("/voice")
    assert welcome is not None and node_of(welcome) == "_carry_on", "they stopped in a topic last time"
    menu = signed.follow(welcome, {"Digits": "*"})
    assert node_of(menu) == "_language"
    assert HI.forget_offer.format(key="3") in spoken(menu), "said only when reached from the call"
    question = signed.follow(menu, {"Digits": "3"})
    assert spoken(question) == [HI.forget_what, HI.forget_keys] and node_of(question) == "_forget"
    done = signed.follow(question, {"Digits": "1"})
    assert spoken(done)[0] == HI.forget_done and node_of(done) == ROOT
    store = services.store(app)
    assert held(store, me) == NOTHING and held(store, you) == EVERYTHING


def test_the_opening_language_menu_offers_no_forgetting(app: Flask) -> None:
    phone = phone_of(app, ME)
    opening = phone.dial()
    assert (
        HI.forget_offer.format(key="3") not in opening.says
        and EN.forget_offer.format(key="3") not in opening.says
    )
    assert phone.press("3").says[0] != EN.forget_what


def test_star_at_the_question_keeps_everything(app: Flask, both: tuple[Seeded, Seeded]) -> None:
    me, _ = both
    phone = phone_of(app, ME)
    phone.dial()
    phone.say("forget my number")
    kept = phone.press("*")
    assert kept.gather is not None and f"n={ROOT}" in kept.gather.get("action", "")
    assert HI.forget_done not in kept.says
    assert held(services.store(app), me) == {**EVERYTHING, "calls_linked": 2}, "this call as well"


@pytest.mark.parametrize("words", ["remember me", "keep it", "no", "याद रखो", "मत भूलो", "नहीं"])
def test_remember_or_no_at_the_question_keeps_everything(
    app: Flask, both: tuple[Seeded, Seeded], words: str
) -> None:
    me, _ = both
    phone = asking_to_forget(app, "forget my number")
    kept = phone.say(words)
    assert HI.forget_done not in kept.says and HI.forget_what not in kept.says
    assert kept.gather is not None and f"n={ROOT}" in kept.gather.get("action", "")
    assert held(services.store(app), me) == {**EVERYTHING, "calls_linked": 2}, "nothing erased"


def test_after_forgetting_nothing_is_kept_again_in_that_call_unless_asked_again(
    app: Flask, both: tuple[Seeded, Seeded]
) -> None:
    me, _ = both
    phone = asking_to_forget(app)
    phone.press("1")
    phone.press("7")  # slower: not kept
    phone.press("1")
    phone.press("1")  # into Symptoms: no place kept
    phone.press("*")
    phone.press("*")
    phone.press("*")  # the language menu
    asked = phone.press("1")  # a language chosen: asked again
    assert asked.says[0] == EN.language_set and EN.consent_ask in asked.says
    phone.press("2")
    assert held(services.store(app), me) == NOTHING


def test_a_redelivered_forget_is_answered_the_same_and_erases_once(
    app: Flask, both: tuple[Seeded, Seeded]
) -> None:
    me, _ = both
    phone = asking_to_forget(app)
    url = waiting_action(phone)
    token = "9d3f0f1e-0b6d-4d1c-9e7a-1c2b3d4e5f61"
    ((status, first),) = deliver(app, phone, url, {"Digits": "1"}, token=token)
    ((again_status, again),) = deliver(app, phone, url, {"Digits": "1"}, token=token)
    assert status == again_status == 200 and again == first, "Twilio's redelivery: the same reply"
    assert spoken(ET.fromstring(first))[0] == HI.forget_done
    store = services.store(app)
    assert held(store, me) == NOTHING
    found = store.audit_entries(action=ERASE, actor=CALLER_BY_VOICE)
    assert found is not None and found[1] == 1, "erased once, recorded once"


def test_a_database_that_is_down_is_never_said_to_have_forgotten() -> None:
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")
    phone = phone_of(app, ME)
    phone.dial()
    phone.press("1")
    phone.press("2")
    assert phone.say("forget me").says == FORGET_QUESTION
    failed = phone.press("1")
    assert failed.says[0] == EN.forget_failed and EN.forget_done not in failed.says
    assert failed.gather is not None and f"n={ROOT}" in failed.gather.get("action", "")


def test_a_hidden_number_is_told_nothing_is_kept_for_it(app: Flask) -> None:
    phone = phone_of(app, "anonymous")
    phone.dial()
    phone.press("1")
    told = phone.say("forget me")
    assert told.says[0] == EN.forget_hidden and EN.forget_what not in told.says


# The recordings' audio at Twilio.


def test_twilio_down_the_recording_is_hidden_then_deleted_by_the_purge_once(
    app: Flask, both: tuple[Seeded, Seeded], fake: FakeTwilioHttp
) -> None:
    me, you = both
    fake.script.append(requests.ConnectionError("Twilio is away"))
    with app.app_context():
        erased = erase_number(ME)
    assert (erased.recordings, erased.audio_deleted, erased.audio_pending) == (1, 0, 1)
    store = services.store(app)
    assert held(store, me) == {**NOTHING, "recordings": 1}, "kept to be deleted, hidden from staff"
    listed = {r.call_sid for r in store.recordings(unreviewed_only=False)}
    assert me.call_sid not in listed and you.call_sid in listed, "staff no longer see it; others' stay"
    runner = app.test_cli_runner()
    first = runner.invoke(args=["data", "purge"])
    assert first.exit_code == 0 and "recordings_pending 0" in first.output and "deleted 1" in first.output
    assert held(store, me) == NOTHING
    assert len(deletes(fake)) == 2, "tried while Twilio was away, then once by the purge"
    again = runner.invoke(args=["data", "purge"])
    assert again.exit_code == 0 and len(deletes(fake)) == 2, "never deleted twice"


def test_audio_twilio_no_longer_has_counts_as_deleted(
    app: Flask, both: tuple[Seeded, Seeded], fake: FakeTwilioHttp
) -> None:
    me, _ = both
    fake.script.append((404, 20404, "The requested resource was not found"))
    with app.app_context():
        erased = erase_number(ME)
    assert (erased.audio_deleted, erased.audio_pending) == (1, 0)
    assert held(services.store(app), me) == NOTHING


# For staff: the service and the command.


@pytest.mark.parametrize(
    "spelling", ["+91 98123 45678", "0091 98123 45678", "+91-98123-45678", "tel:+919812345678"]
)
def test_flask_data_erase_takes_any_spelling_of_the_number(
    app: Flask, both: tuple[Seeded, Seeded], spelling: str
) -> None:
    me, you = both
    result = app.test_cli_runner().invoke(args=["data", "erase", spelling])
    assert result.exit_code == 0, result.output
    assert "callers 1" in result.output and "callbacks 2" in result.output and "recordings 1" in result.output
    assert ME not in result.output and "98123" not in result.output
    store = services.store(app)
    assert held(store, me) == NOTHING and held(store, you) == EVERYTHING
    again = app.test_cli_runner().invoke(args=["data", "erase", spelling])
    assert again.exit_code == 0 and "callers 0" in again.output


@pytest.mark.parametrize("junk", ["12345", "anonymous", "9812345678", "+15551234567"])
def test_flask_data_erase_refuses_what_is_not_a_number(app: Flask, junk: str) -> None:
    result = app.test_cli_runner().invoke(args=["data", "erase", junk])
    assert result.exit_code == 2 and "country code" in result.output
    with app.app_context(), pytest.raises(InvalidNumberError):
        erase_number(junk)


def test_flask_data_erase_fails_loudly_when_the_database_is_down() -> None:
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")
    result = app.test_cli_runner().invoke(args=["data", "erase", ME])
    assert result.exit_code == 1 and "nothing was erased" in result.output


def test_the_store_erases_in_one_go_on_each_database(store: Store) -> None:
    me, you = seed_caller(store, ME, AT), seed_caller(store, YOU, AT)
    done = store.erase_caller(me.key, ME, now=AT)
    assert done is not None
    erased, marked = done
    assert erased == Erased(
        callers=1, callbacks=2, missed_calls=1, texts=2, text_quota=1, recordings=1, calls_unlinked=1
    )
    assert len(marked) == 1
    assert held(store, me) == {**NOTHING, "recordings": 1}
    assert held(store, you) == EVERYTHING
    again = store.erase_caller(me.key, ME, now=AT)
    assert again is not None and again[0] == Erased()
    claimed = store.claim_recordings(AT)
    assert [c.recording_sid for c in claimed] == [me.recording_sid]
    assert store.claim_recordings(AT) == [], "claimed: no other process deletes it too"
    assert store.recording_deleted(claimed[0].id)
    assert held(store, me) == NOTHING
