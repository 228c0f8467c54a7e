"""A scripted set of calls, walked through the real, signed webhooks, for the listening figures and
the exports. Every key a walk presses is here (one place to change when the calls' start changes)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import AUTH_TOKEN, BASE_URL, OPERATOR, choose, indian_mobile, make_app
from tests.support.twiml import query

ENGLISH, HINDI = "1", "2"
SYMPTOMS, CAUSES, ABOUT = "11", "12", "4"  # from the main menu (ivr/content tree keys_to)
PERSON = "0"
NEXT = "1"


def figures_app(database_url: str) -> Flask:
    """A line with a help desk (the operator's number, screened by the whisper) on this database."""
    return make_app(DATABASE_URL=database_url, OPERATOR_NUMBER=OPERATOR)


def new_phone(app: Flask, *, caller: str | None = None, dial_outcome: str = "no-answer") -> Phone:
    return Phone(
        FlaskTransport(app),
        base_url=BASE_URL,
        auth_token=AUTH_TOKEN,
        caller=caller or indian_mobile(),
        dial_outcome=dial_outcome,
    )


def at(turn: Turn) -> tuple[str, int]:
    """Where a reply leaves the caller (node, part), from its Gather's action URL."""
    assert turn.gather is not None, turn.says
    state = query(turn.gather.get("action", ""))
    return state["n"], int(state.get("p", "0"))


def first_call(phone: Phone, language_key: str, *, remember: bool = False) -> Turn:
    """A new caller: the language menu, then a language, then the answer to "To have me remember
    ..., press 1." (1 with `remember`, else 2)."""
    chooser = phone.dial()
    assert at(chooser) == ("_language", 0)
    return choose(phone, language_key, remember=remember)


def end(phone: Phone, seconds: int = 60) -> None:
    """The caller hangs up; Twilio's status callback says the call is over."""
    phone.hangup()
    url = BASE_URL + "/voice/status"
    params = {"CallSid": phone.call_sid, "CallStatus": "completed", "CallDuration": str(seconds)}
    status, _ = phone.transport.post(url, params, phone.signed_headers(url, params))
    assert status == 204


@dataclass(frozen=True)
class ScriptedCalls:
    """The calls walked, by what each caller did (each a Phone: its caller and CallSid)."""

    whole: Phone  # English; all four parts of Symptoms by silence, to its end; hangs up
    skipper: Phone  # Hindi; Symptoms: skips part 1, hears 2, skips 3, hears 4; hangs up at its end
    hung_up: Phone  # English; Causes: hears part 1, hangs up inside part 2
    answered: Phone  # English; About, part 1: presses 0, a person answers and takes the call
    not_answered: Phone  # English; at the main menu presses 0, no one answers; hangs up
    returning: Phone  # whole's caller again: Symptoms parts 1 to 3 by silence, hangs up in part 4
    live: Phone  # English; still at the main menu (no end recorded)


def walk_scripted_calls(app: Flask) -> ScriptedCalls:
    """Walk the scripted calls on `app` (figures_app), one after another."""
    whole = new_phone(app)
    first_call(whole, ENGLISH, remember=True)  # so that their next call is welcomed back
    for key in SYMPTOMS:
        whole.press(key)
    for _ in range(4):
        turn = whole.wait()
    assert at(turn) == ("symptoms", 4), "the topic's end"
    end(whole)

    skipper = new_phone(app)
    first_call(skipper, HINDI)
    for key in SYMPTOMS:
        skipper.press(key)
    skipper.press(NEXT)  # part 2 now
    skipper.wait()  # part 2 ended by itself: part 3
    skipper.press(NEXT)  # part 4
    assert at(skipper.wait()) == ("symptoms", 4)
    end(skipper)

    hung_up = new_phone(app)
    first_call(hung_up, ENGLISH)
    for key in CAUSES:
        hung_up.press(key)
    assert at(hung_up.wait()) == ("causes", 1)
    end(hung_up)

    answered = new_phone(app, dial_outcome="completed")
    first_call(answered, ENGLISH)
    answered.press(ABOUT)
    person = answered.press(PERSON)
    assert person.dialed == [OPERATOR] and person.bridged == [True] and person.ended
    end(answered, seconds=300)

    not_answered = new_phone(app, dial_outcome="no-answer")
    first_call(not_answered, ENGLISH)
    nobody = not_answered.press(PERSON)
    assert nobody.dialed == [OPERATOR] and at(nobody) == ("_specialist", 0)
    end(not_answered)

    returning = new_phone(app, caller=whole.caller)
    assert at(returning.dial()) == ("main", 0), "welcomed back: the topic was heard to its end"
    for key in SYMPTOMS:
        returning.press(key)
    for _ in range(3):
        turn = returning.wait()
    assert at(turn) == ("symptoms", 3)
    end(returning)

    live = new_phone(app)
    first_call(live, ENGLISH)
    return ScriptedCalls(whole, skipper, hung_up, answered, not_answered, returning, live)
