"""English and Hindi: chosen at the start, remembered per caller, complete in both, switchable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import ContentError, load_content
from ivr.content.tree import fill
from ivr.engine import EMERGENCY
from ivr.simulator import Phone, Turn
from tests.support.app import answer, make_app
from tests.support.content import edit
from tests.support.twiml import query

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
EN, HI = CONTENT.prompts["en"], CONTENT.prompts["hi"]


def where(turn: Turn) -> str:
    assert turn.gather is not None, turn.says
    return query(turn.gather.get("action", ""))["n"]


def spoken_in(turn: Turn) -> set[str | None]:
    return {h.language for h in turn.heard}


def key_line(key: str, action: str, lang: str) -> str:
    """One key as the line says it, in a language: "मदद के लिए 6 दबाएँ।"."""
    prompts = CONTENT.prompts[lang]
    return prompts.phrases.help_line.format(
        action=getattr(prompts.actions, action), key=prompts.key_names.get(key, key)
    )


def part_said(node: str, part: int, lang: str) -> str:
    return fill(TREE.section(node, lang).parts[part], "1 1 2")


def test_a_hindi_call_is_hindi_throughout(phone: Phone) -> None:
    welcome = answer(phone, "2")
    assert welcome.says == [
        HI.phrases.welcome,
        HI.phrases.disclaimer,
        *[HI.phrases.option.format(label=o.label["hi"], key=o.key) for o in TREE.menus["main"].options],
        HI.phrases.speech_hint,
        key_line("0", "operator", "hi"),
        key_line("6", "help", "hi"),
    ]
    assert "ज़ीरो" in welcome.says[-2], "0 is said as callers say it"
    assert spoken_in(welcome) == {"hi-IN"}
    assert welcome.gather is not None and welcome.gather.get("language") == "hi-IN"
    phone.press("1")
    topic = phone.press("1")
    assert topic.says == [
        TREE.section("symptoms", "hi").title,
        part_said("symptoms", 0, "hi"),
        key_line("1", "next", "hi"),
        key_line("2", "previous", "hi"),
    ]
    assert spoken_in(topic) == {"hi-IN"}
    helped = phone.press("6")
    assert helped.says[0] == key_line("1", "next", "hi") and helped.says[-1] == HI.phrases.help_more
    assert spoken_in(helped) == {"hi-IN"}
    assert phone.wait().says == [TREE.section("symptoms", "hi").title, part_said("symptoms", 0, "hi")]
    for _ in range(TREE.part_count("symptoms")):
        end = phone.wait()
    assert end.says[:2] == [HI.phrases.end_of_topic, HI.phrases.doctor_advice]
    assert spoken_in(end) == {"hi-IN"}
    assert phone.press("5").says[0] == HI.phrases.emergency_advice.format(number="1 1 2")


@pytest.mark.parametrize(
    ("speech", "node"),
    [("लक्षण", "symptoms"), ("कारण बताइए", "causes"), ("इलाज", "treatment"), ("मायोपैथी", "myopathies")],
)
def test_hindi_speech_finds_topics(phone: Phone, speech: str, node: str) -> None:
    answer(phone, "2")
    assert where(phone.say(speech)) == node


@pytest.mark.parametrize("speech", ["इमरजेंसी", "सांस नहीं आ रही", "पापा बेहोश हो गए हैं"])
def test_hindi_speech_reaches_emergency_from_a_topic(phone: Phone, speech: str) -> None:
    answer(phone, "2")
    phone.press("3")
    phone.press("1")  # the six types, their second section
    turn = phone.say(speech)
    assert turn.says == [HI.phrases.emergency_advice.format(number="1 1 2"), HI.phrases.go_back]
    assert where(turn) == EMERGENCY
    back = phone.press("*")
    assert where(back) == TREE.topic_sections("categories")[1]


@pytest.mark.parametrize(
    ("speech", "node"),
    [("एक", "symptoms_causes"), ("दो दबाओ", "treatment"), ("तीन नंबर", "categories"), ("चार दबाइए", "about")],
)
def test_spoken_hindi_numbers_and_press_words_work(phone: Phone, speech: str, node: str) -> None:
    answer(phone, "2")
    assert where(phone.say(speech)) == TREE.first_section(node)


def test_the_language_menu_takes_the_language_by_name(phone: Phone) -> None:
    phone.dial()  # the language chosen: the question whether to remember it comes in that language
    assert phone.say("हिंदी").says[0] == HI.phrases.consent_ask
    other = Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH)
    other.dial()
    assert other.say("English please").says[0] == EN.phrases.consent_ask


AUTH = "test-auth-token-0123456789abcdef"


def call_again(phone: Phone) -> Phone:
    """The same caller (same number) phoning again."""
    return Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH, caller=phone.caller)


def test_the_language_is_remembered_for_the_callers_next_call(phone: Phone) -> None:
    answer(phone, "2", remember=True)
    phone.hangup()
    again = call_again(phone).dial()
    assert again.says[0] == HI.phrases.welcome_back, "no language menu the second time"
    assert where(again) == TREE.root
    stranger = Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH).dial()
    assert where(stranger) == "_language"


def test_switching_language_mid_call_by_voice_keeps_the_place_and_is_remembered(phone: Phone) -> None:
    answer(phone, "1", remember=True)
    phone.press("1")
    phone.press("2")  # English "causes"
    phone.press("1")  # its second part
    turn = phone.say("Hindi")
    assert turn.says == [HI.phrases.language_set, part_said("causes", 1, "hi")], "the same part, in Hindi"
    assert turn.gather is not None and query(turn.gather.get("action", ""))["p"] == "1"
    assert where(turn) == "causes"
    assert spoken_in(turn) == {"hi-IN"}
    assert call_again(phone).dial().says[0] == HI.phrases.welcome_back


def test_star_at_the_main_menu_offers_the_language_menu(phone: Phone) -> None:
    answer(phone, "1")
    chooser = phone.press("*")
    assert where(chooser) == "_language"
    assert spoken_in(chooser) == {"en-IN", "hi-IN"}
    hindi = phone.press("2")
    assert hindi.says[0] == HI.phrases.language_set
    assert where(hindi) == TREE.root


def test_the_speech_rate_is_remembered_too(phone: Phone) -> None:
    answer(phone, "1", remember=True)
    phone.press("7")  # slower
    phone.hangup()
    again = call_again(phone).dial()
    assert again.says[0] == EN.phrases.welcome_back
    rates = {h.prosody_rate for h in again.heard}
    assert rates == {"80%"}


def test_a_withheld_number_is_never_remembered(phone_for: Callable[[Flask], Phone]) -> None:
    app = make_app()
    phone = phone_for(app)
    phone.caller = "anonymous"
    answer(phone, "2")
    again = Phone(phone.transport, base_url=phone.base_url, auth_token=AUTH, caller="anonymous").dial()
    assert where(again) == "_language"


def test_the_number_is_stored_only_as_a_salted_hash(app: Flask, phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(app)
    answer(phone, "2")
    store = services.store(app)
    with store.engine.connect() as conn:
        from sqlalchemy import text

        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM callers"))]
        rows += [tuple(r) for r in conn.execute(text("SELECT * FROM calls"))]
        rows += [tuple(r) for r in conn.execute(text("SELECT * FROM journey_events"))]
    digits = phone.caller.lstrip("+")
    assert rows
    assert not any(digits in str(value) for row in rows for value in row)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (
            lambda root: (root / "knowledge/sections/hi/causes.md").unlink(),
            "missing: the 'hi' text of 'causes'",
        ),
        (
            lambda root: edit(root / "prompts/hi.yaml", "  first_part:", "  # first_part:"),
            "phrases.first_part: Field required",
        ),
        (
            lambda root: edit(root / "knowledge/tree.yaml", "      hi: मुख्य मेनू।\n", ""),
            "missing language(s) ['hi']",
        ),
        (
            lambda root: edit(
                root / "knowledge/tree.yaml", "          hi: [कमज़ोरी,", "          xx: [कमज़ोरी,"
            ),
            "unknown language(s) ['xx']",
        ),
    ],
    ids=["section", "prompt", "tree text", "words that describe symptoms"],
)
def test_a_language_lacking_anything_the_other_has_is_refused(
    content_copy: Path, breaker: Callable[[Path], object], message: str
) -> None:
    breaker(content_copy)
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    assert any(message in p for p in caught.value.problems), caught.value.problems


@pytest.mark.unit
def test_both_languages_have_the_same_parts() -> None:
    for sid, by_lang in TREE.sections.items():
        assert len(by_lang["en"].parts) == len(by_lang["hi"].parts), sid
