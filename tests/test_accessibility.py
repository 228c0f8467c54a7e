"""Caller controls: speech rate, more time, tapered prompts, help anywhere, emergency interrupt."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import EMERGENCY
from ivr.simulator import Phone, Turn
from tests.conftest import answer, make_app
from tests.twiml_helpers import query

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
EN = CONTENT.prompts["en"]
P = EN.phrases
EMERGENCY_LINE = "+911234500000"


def prosody_rates(turn: Turn) -> set[str | None]:
    """The prosody rate of every <Say> in the last reply (None: no prosody, normal speed)."""
    rates: set[str | None] = set()
    for say in turn.documents[-1].iter("Say"):
        prosody = say.find("prosody")
        rates.add(prosody.get("rate") if prosody is not None else None)
    return rates


def where(turn: Turn) -> dict[str, str]:
    assert turn.gather is not None, turn.says
    return query(turn.gather.get("action", ""))


def test_seven_cycles_slower_faster_normal_and_it_sticks(phone: Phone) -> None:
    answer(phone)
    slow = phone.press("7")
    assert slow.says[0] == P.rate_slow
    assert prosody_rates(slow) == {"80%"}
    assert TREE.menus["main"].title["en"] in slow.says, "the prompt is said again at the new speed"
    assert prosody_rates(phone.press("2")) == {"80%"}, "the rate stays for the rest of the call"
    fast = phone.press("7")
    assert fast.says[0] == P.rate_fast and prosody_rates(fast) == {"125%"}
    normal = phone.press("7")
    assert normal.says[0] == P.rate_normal and prosody_rates(normal) == {None}


@pytest.mark.parametrize(
    ("words", "rate", "said"), [("slower please", "80%", "rate_slow"), ("faster", "125%", "rate_fast")]
)
def test_rate_by_voice(phone: Phone, words: str, rate: str, said: str) -> None:
    answer(phone)
    turn = phone.say(words)
    assert turn.says[0] == getattr(P, said)
    assert prosody_rates(turn) == {rate}


def test_asking_for_more_time_makes_the_line_wait_longer(phone: Phone) -> None:
    first = answer(phone)
    assert first.gather is not None
    before = int(first.gather.get("timeout", "0"))
    turn = phone.say("hold on")
    assert turn.says[0] == P.more_time
    assert turn.gather is not None and int(turn.gather.get("timeout", "0")) >= 3 * before
    later = phone.press("2")
    assert later.gather is not None and int(later.gather.get("timeout", "0")) >= 3 * before


def test_menus_are_said_in_full_the_first_time_and_shorter_after(phone: Phone) -> None:
    answer(phone)
    first = phone.press("3")
    intro = TREE.menus["categories"].intro
    assert intro is not None
    assert intro["en"] in first.says and P.speech_hint in first.says
    phone.press("1")  # into a topic
    again = phone.press("*")  # back to the same menu
    assert where(again)["n"] == "categories"
    assert intro["en"] not in again.says and P.speech_hint not in again.says
    assert TREE.menus["categories"].title["en"] in again.says
    assert len(again.says) < len(first.says)
    full = phone.press("9")
    assert intro["en"] in full.says, "9 always repeats in full"


def help_lines(turn: Turn) -> list[str]:
    return [s for s in turn.says if s.endswith(tuple(f"press {k}." for k in [*"0123456789", "star", "hash"]))]


def test_help_at_the_main_menu_lists_the_keys_that_work_there(phone: Phone) -> None:
    answer(phone)
    turn = phone.press("6")
    assert turn.says[0] == P.help
    lines = help_lines(turn)
    for line in [
        "To repeat, press 9.",
        "To speak to a person, press 0.",
        "To change how fast I speak, press 7.",
        "In an emergency, press 5.",
        "To hear these keys again, press 6.",
    ]:
        assert line in lines
    assert "To go back, press star." not in lines, "nothing is above the main menu"
    assert "For the main menu, press hash." not in lines
    assert P.help_speech in turn.says
    assert where(turn)["n"] == "main"


def test_help_in_a_topic_adds_next_part_and_back(phone: Phone) -> None:
    answer(phone)
    phone.press("2")
    phone.press("1")
    turn = phone.say("help")
    lines = help_lines(turn)
    assert lines[0] == "For the next part, press 1."
    assert "To go back, press star." in lines and "For the main menu, press hash." in lines
    assert where(turn)["n"] == "symptoms"


PATHS = {"main menu": "", "a menu two down": "32", "a topic": "21", "a topic, three down": "321"}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize(
    "trigger", ["5", "emergency", "I can't breathe", "help me please", "call an ambulance"]
)
def test_emergency_from_anywhere(phone_for: Callable[[Flask], Phone], path: str, trigger: str) -> None:
    phone = phone_for(make_app(EMERGENCY_NUMBER="108", EMERGENCY_TRANSFER=EMERGENCY_LINE))
    answer(phone)
    for key in path:
        phone.press(key)
    before = where(phone.press("9"))
    turn = phone.press(trigger) if trigger.isdigit() else phone.say(trigger)
    assert turn.says[0] == P.emergency_advice.format(number="1 0 8")
    assert P.emergency_transfer in turn.says
    assert where(turn)["n"] == EMERGENCY
    assert where(phone.press("*"))["n"] == before["n"], "star leads back to where the caller was"
    phone.press("5")
    connect = phone.press("1")
    assert connect.dialed == [EMERGENCY_LINE]
    assert connect.says[0] == P.connecting


def test_emergency_star_goes_back_to_where_the_caller_was(phone: Phone) -> None:
    answer(phone)
    phone.press("2")
    phone.press("1")
    phone.press("1")
    phone.press("5")
    back = phone.press("*")
    assert where(back)["n"] == "symptoms"
    assert where(back)["p"] == "0", "the topic starts again from its first part"


def test_emergency_without_a_transfer_line_gives_the_advice_only(phone: Phone) -> None:
    answer(phone)
    turn = phone.press("5")
    assert turn.says == [P.emergency_advice.format(number="1 1 2"), P.emergency_back]
    refused = phone.press("1")
    assert refused.says[0] == P.not_an_option.format(heard="1")
    assert not refused.dialed


def test_failed_emergency_transfer_repeats_the_advice(phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(make_app(EMERGENCY_TRANSFER=EMERGENCY_LINE))
    phone.dial_outcome = "busy"
    answer(phone)
    phone.press("5")
    turn = phone.press("1")
    assert turn.dialed == [EMERGENCY_LINE]
    assert P.dial_failed in turn.says
    assert P.emergency_advice.format(number="1 1 2") in turn.says


def test_the_symptoms_topic_flags_breathing_and_swallowing_as_urgent(phone: Phone) -> None:
    answer(phone)
    phone.press("2")
    heard = [phone.press("1").text]
    for _ in range(TREE.part_count("symptoms") - 1):
        heard.append(phone.press("1").text)
    text = " ".join(heard).lower()
    assert "breathing or swallowing trouble is urgent" in text
    assert "press 5" in text


def test_each_topic_ends_with_when_it_was_reviewed(phone: Phone) -> None:
    answer(phone)
    phone.press("3")
    phone.press("4")
    turn = phone.press("9")
    reviewed = TREE.section("junction", "en").meta.reviewed_on
    assert (
        f"This information was last reviewed in {EN.months[reviewed.month - 1]} {reviewed.year}." in turn.says
    )


def test_the_lexicon_changes_how_terms_are_spoken(content_copy: Path) -> None:
    prompts = content_copy / "prompts/en.yaml"
    prompts.write_text(prompts.read_text().replace("lexicon:\n", "lexicon:\n  NMD: N M D\n"))
    section = content_copy / "knowledge/sections/en/junction.md"
    section.write_text(
        section.read_text() + "\nNMD is short for neuromuscular disorder. NMDs is not a term.\n"
    )
    hindi = content_copy / "knowledge/sections/hi/junction.md"
    hindi.write_text(hindi.read_text() + "\nNMD यानी न्यूरोमस्कुलर बीमारी।\n")
    app = make_app(CONTENT_DIR=str(content_copy))
    from tests.conftest import SignedClient

    _, root = SignedClient(app).post("/voice/step?n=junction&p=1&s=0&m=0&l=en", {"Digits": "9"})
    assert root is not None
    said = [ET.tostring(s, encoding="unicode", method="text") for s in root.iter("Say")]
    assert "N M D is short for neuromuscular disorder. NMDs is not a term." in said
