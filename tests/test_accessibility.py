"""Caller controls: speech rate, more time, tapered prompts, help anywhere, emergency interrupt."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.tree import fill
from ivr.engine import EMERGENCY, PART_PAUSE_S
from ivr.simulator import Phone, Turn
from tests.support.app import SignedClient, answer, make_app
from tests.support.signoffs import sign
from tests.support.twiml import query

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
EN = CONTENT.prompts["en"]
HI = CONTENT.prompts["hi"]
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


def at(turn: Turn) -> tuple[str, int]:
    """(node, part) the reply leaves the caller at."""
    q = where(turn)
    return q["n"], int(q["p"])


def part_said(node: str, part: int, lang: str = "en", number: str = "1 1 2") -> str:
    return fill(TREE.section(node, lang).parts[part], number)


def options(menu: str, lang: str = "en") -> list[str]:
    phrases = CONTENT.prompts[lang].phrases
    return [phrases.option.format(label=o.label[lang], key=o.key) for o in TREE.menus[menu].options]


def key_line(key: str, action: str, lang: str = "en") -> str:
    """One key as help says it, the choice first: "To repeat, press 9."."""
    prompts = CONTENT.prompts[lang]
    return prompts.phrases.help_line.format(
        action=getattr(prompts.actions, action), key=prompts.key_names.get(key, key)
    )


def dated(topic: str, lang: str) -> str:
    """When a topic (all its sections) was last updated, as the line says it."""
    day = max(TREE.section(s, lang).meta.updated_on for s in TREE.topic_sections(topic))
    prompts = CONTENT.prompts[lang]
    return prompts.phrases.updated.format(month=prompts.months[day.month - 1], year=day.year)


# Speech rate ---------------------------------------------------------------------------------


def test_seven_in_a_topic_says_the_same_part_again_slowly_and_the_speed_sticks(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    phone.press("1")
    phone.press("1")  # symptoms, its second part
    slow = phone.press("7")
    assert slow.says == [P.rate_slow, part_said("symptoms", 1)], "the place is said again at the new speed"
    assert at(slow) == ("symptoms", 1)
    assert prosody_rates(slow) == {"80%"}
    played_on = phone.wait()
    assert at(played_on) == ("symptoms", 2) and prosody_rates(played_on) == {"80%"}, "the speed stays"
    assert prosody_rates(phone.press("#")) == {"80%"}, "in menus too"
    phone.press("1")
    topic = phone.press("2")
    assert at(topic) == ("causes", 0) and prosody_rates(topic) == {"80%"}
    normal = phone.press("7")
    assert normal.says == [P.rate_normal, TREE.section("causes", "en").title, part_said("causes", 0)]
    assert prosody_rates(normal) == {None}


@pytest.mark.parametrize(
    ("words", "rate", "said"),
    [("धीरे बोलिए", "80%", "rate_slow"), ("तेज़ बोलिए", "125%", "rate_fast"), ("slow", "80%", "rate_slow")],
)
def test_rate_by_voice_in_hindi(phone: Phone, words: str, rate: str, said: str) -> None:
    answer(phone, "2")
    turn = phone.say(words)
    assert turn.says[0] == getattr(HI.phrases, said)
    assert turn.says[1] == TREE.menus["main"].title["hi"], "then the menu again, at the new speed"
    assert prosody_rates(turn) == {rate}
    assert {h.language for h in turn.heard} == {"hi-IN"}


def test_hindi_callers_are_told_when_there_is_no_slower_speed(phone: Phone) -> None:
    answer(phone, "2")
    phone.say("धीरे")
    slowest = phone.say("धीरे")
    assert slowest.says[0] == HI.phrases.rate_slowest and prosody_rates(slowest) == {"80%"}
    assert phone.say("तेज़").says[0] == HI.phrases.rate_normal


def test_asking_for_more_time_makes_the_line_wait_longer(phone: Phone) -> None:
    first = answer(phone)
    assert first.gather is not None
    before = int(first.gather.get("timeout", "0"))
    turn = phone.say("hold on")
    assert turn.says[0] == P.more_time
    assert turn.gather is not None and int(turn.gather.get("timeout", "0")) >= 3 * before
    later = phone.press("2")
    assert later.gather is not None and int(later.gather.get("timeout", "0")) >= 3 * before


# Tapered menus -------------------------------------------------------------------------------


def test_the_main_menu_is_said_in_full_the_first_time_and_shorter_after(phone: Phone) -> None:
    welcome = answer(phone)
    assert P.speech_hint in welcome.says and P.welcome in welcome.says
    sub = phone.press("2")
    assert sub.says == [TREE.menus["treatment"].title["en"], *options("treatment")]
    again = phone.press("#")  # back to the main menu
    assert where(again)["n"] == "main"
    assert again.says == [TREE.menus["main"].title["en"], *options("main")], "no welcome, no hint again"
    assert len(" ".join(again.says)) < len(welcome.text)
    assert phone.wait().says == [P.no_input, *options("main")], "after a silence, the options alone"
    full = phone.press("9")
    assert full.says == [TREE.menus["main"].title["en"], *options("main"), P.speech_hint], "9 says it in full"


def with_an_intro(root: Path) -> Path:
    """The content with an introduction to the treatment menu, in each language."""
    path = root / "knowledge" / "tree.yaml"
    tree = yaml.safe_load(path.read_text())
    tree["menus"]["treatment"]["intro"] = {
        "en": "Most of these disorders can be managed.",
        "hi": "इनमें से ज़्यादातर बीमारियों को संभाला जा सकता है।",
    }
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False))
    return root


def test_a_menus_intro_is_said_the_first_time_only_and_by_9(
    content_copy: Path, phone_for: Callable[[Flask], Phone]
) -> None:
    phone = phone_for(make_app(CONTENT_DIR=str(with_an_intro(content_copy))))
    intro = "Most of these disorders can be managed."
    answer(phone)
    first = phone.press("2")
    assert first.says == [TREE.menus["treatment"].title["en"], intro, *options("treatment")]
    phone.press("1")  # into a topic
    again = phone.press("*")  # back to the same menu
    assert where(again)["n"] == "treatment"
    assert again.says == [TREE.menus["treatment"].title["en"], *options("treatment")]
    full = phone.press("9")
    assert intro in full.says, "9 always repeats in full"


# Help ----------------------------------------------------------------------------------------


def test_help_at_the_main_menu_lists_only_the_keys_that_work_there(phone: Phone) -> None:
    answer(phone)
    turn = phone.press("6")
    assert turn.says == [
        key_line("9", "repeat"),
        key_line("*", "language"),
        key_line("0", "operator"),
        key_line("5", "emergency"),
        key_line("7", "slower"),
    ], "the choice first, no introduction, no options, nothing that does not work here"
    assert where(turn)["n"] == "main"
    resumed = phone.wait()
    assert resumed.says == options("main"), "silence after help says the options, with no apology"


def test_help_in_a_topic_by_voice_gives_the_part_keys_first_then_the_rest(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    phone.press("1")
    phone.press("1")  # symptoms, its second part
    first = phone.say("help")
    assert first.says == [
        key_line("1", "next"),
        key_line("2", "previous"),
        key_line("9", "repeat"),
        key_line("*", "leave"),
        P.help_more,
    ]
    assert at(first) == ("symptoms", 1)
    rest = phone.say("help")
    assert rest.says == [
        key_line("8", "text"),
        key_line("#", "main"),
        key_line("0", "operator"),
        key_line("5", "emergency"),
        key_line("7", "slower"),
    ]
    resumed = phone.wait()
    assert at(resumed) == ("symptoms", 1), "silence after help goes on with the same part, not the next"
    assert resumed.says == [part_said("symptoms", 1)] and P.no_input not in resumed.says


def test_help_at_a_topics_end_offers_to_hear_it_again(signed: SignedClient) -> None:
    end = TREE.part_count("about")
    status, root = signed.post(f"/voice/step?n=about&p={end}&s=0&m=0&l=en&f=f", {"Digits": "6"})
    assert status == 200 and root is not None
    said = [(s.text or "").strip() for s in root.iter("Say")]
    assert said[:2] == [key_line("1", "again"), key_line("2", "previous")]
    assert key_line("1", "next") not in said, "nothing comes after the end to skip to"
    gather = root.find("Gather")
    assert gather is not None and int(gather.get("timeout", "0")) > PART_PAUSE_S


# Emergency -----------------------------------------------------------------------------------


PATHS = {
    "main menu": "",
    "a sub-menu": "2",
    "a topic": "11",
    "a topic, its second part": "111",
    "a series, its second section": "31",
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize(
    "trigger", ["5", "emergency", "I can't breathe", "my father is not breathing", "call an ambulance"]
)
def test_emergency_from_anywhere(phone_for: Callable[[Flask], Phone], path: str, trigger: str) -> None:
    phone = phone_for(make_app(EMERGENCY_NUMBER="108", EMERGENCY_TRANSFER=EMERGENCY_LINE))
    answer(phone)
    for key in path:
        phone.press(key)
    before = at(phone.press("9"))
    turn = phone.press(trigger) if trigger.isdigit() else phone.say(trigger)
    assert turn.says == [P.emergency_advice.format(number="1 0 8"), P.emergency_transfer, P.go_back]
    assert where(turn)["n"] == EMERGENCY
    assert at(phone.press("*")) == before, "star leads back to where the caller was, the same part"
    phone.press("5")
    connect = phone.press("1")
    assert connect.dialed == [EMERGENCY_LINE]
    assert connect.says[0] == P.connecting_emergency


def test_emergency_star_goes_back_to_the_part_the_caller_was_hearing(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    phone.press("1")
    phone.press("1")  # symptoms, its second part
    phone.press("5")
    back = phone.press("*")
    assert at(back) == ("symptoms", 1)
    assert back.says == [part_said("symptoms", 1)], "that part again, not the topic from its start"


def test_emergency_without_a_transfer_line_gives_the_advice_only(phone: Phone) -> None:
    answer(phone)
    turn = phone.press("5")
    assert turn.says == [P.emergency_advice.format(number="1 1 2"), P.go_back]
    refused = phone.press("1")
    assert refused.says == [
        P.not_an_option.format(heard="1"),
        P.emergency_advice.format(number="1 1 2"),
        P.go_back,
    ]
    assert not refused.dialed
    assert where(refused)["n"] == EMERGENCY


def test_failed_emergency_transfer_repeats_the_advice(phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(make_app(EMERGENCY_TRANSFER=EMERGENCY_LINE))
    phone.dial_outcome = "busy"
    answer(phone)
    phone.press("5")
    turn = phone.press("1")
    assert turn.dialed == [EMERGENCY_LINE]
    assert P.dial_failed in turn.says
    assert P.emergency_advice.format(number="1 1 2") in turn.says


def test_a_hindi_caller_asking_for_symptoms_hears_the_urgent_warning_first(phone: Phone) -> None:
    answer(phone, "2")
    turn = phone.say("लक्षण")
    assert at(turn) == ("symptoms", 0)
    assert turn.says[:2] == [TREE.section("symptoms", "hi").title, part_said("symptoms", 0, "hi")]
    assert "1 1 2" in turn.says[1] and "साँस" in turn.says[1] and "निगल" in turn.says[1]
    assert {h.language for h in turn.heard} == {"hi-IN"}


# When the information dates from -------------------------------------------------------------


def keyed_topics() -> list[str]:
    return [o.goto for m in TREE.menus.values() for o in m.options if not TREE.is_menu(o.goto)]


@pytest.mark.parametrize("lang", ["en", "hi"])
@pytest.mark.parametrize("topic", keyed_topics())
def test_each_topic_ends_with_when_it_was_last_updated(signed: SignedClient, topic: str, lang: str) -> None:
    last = TREE.topic_sections(topic)[-1]
    path = f"/voice/step?n={last}&p={TREE.part_count(last)}&s=0&m=0&l={lang}&f=f"
    status, root = signed.post(path, {"Digits": "9"})
    assert status == 200 and root is not None
    said = [(s.text or "").strip() for s in root.iter("Say")]
    phrases = CONTENT.prompts[lang].phrases
    assert said[:3] == [phrases.end_of_topic, phrases.doctor_advice, dated(topic, lang)]


def end_of(app: Flask, topic: str) -> list[str]:
    last = TREE.topic_sections(topic)[-1]
    path = f"/voice/step?n={last}&p={TREE.part_count(last)}&s=0&m=0&l=en&f=f"
    status, root = SignedClient(app).post(path, {"Digits": "9"})
    assert status == 200 and root is not None
    return [(s.text or "").strip() for s in root.iter("Say")]


def test_reviewed_is_said_only_for_a_topic_signed_off_for_todays_text(tmp_path: Path) -> None:
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'signed.sqlite3'}")
    assert dated("about", "en") in end_of(app, "about"), "no sign-off yet"
    sign(app, "about", "en", date(2026, 12, 2))
    about = end_of(app, "about")
    assert P.reviewed.format(month=EN.months[11], year=2026) in about
    assert not any("updated" in s for s in about)
    unsigned = end_of(app, "categories")
    assert dated("categories", "en") in unsigned and not any("review" in s for s in unsigned)
    # A sign-off of another text of the topic (the hash of an older text) does not count.
    assert services.store(app).sign_off(
        "categories", "en", "0" * 64, clinician="Dr. A. Example", signed_on=date(2026, 12, 3), signed_by="a"
    )
    assert services.reviews(app).refresh()
    assert dated("categories", "en") in end_of(app, "categories")
    sign(app, "categories", "en", date(2027, 1, 10))
    whole = end_of(app, "categories")
    assert P.reviewed.format(month=EN.months[0], year=2027) in whole, "the series as one topic"


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

    _, root = SignedClient(app).post("/voice/step?n=junction&p=1&s=0&m=0&l=en&f=f", {"Digits": "9"})
    assert root is not None
    said = [ET.tostring(s, encoding="unicode", method="text") for s in root.iter("Say")]
    assert said == ["N M D is short for neuromuscular disorder. NMDs is not a term."]
