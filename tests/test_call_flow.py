"""Walk real call scripts through signed webhooks and check what the caller hears and can do."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.directory import Directory
from ivr.simulator import Phone
from tests.conftest import OPERATOR, SignedClient, answer, make_app
from tests.twiml_helpers import gather, node_of, query, spoken, verbs

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
DIRECTORY = CONTENT.directory
DIRECTORY_DEFAULT = DIRECTORY.default if DIRECTORY else None
PHRASES = CONTENT.prompts["en"].phrases
ALL_NODES = TREE.nodes()


def step_path(node: str, part: int = 0, silences: int = 0, extra: str = "") -> str:
    return f"/voice/step?n={node}&p={part}&s={silences}&m=0&l=en{extra}"


def press(signed: SignedClient, node: str, digits: str, part: int = 0) -> ET.Element:
    status, root = signed.post(step_path(node, part), {"Digits": digits})
    assert status == 200 and root is not None
    return root


def test_a_new_caller_first_chooses_a_language_each_offered_in_its_own(signed: SignedClient) -> None:
    status, root = signed.post("/voice")
    assert status == 200 and root is not None
    assert verbs(root) == ["Gather", "Redirect"]
    assert node_of(root) == "_language"
    says = [(s.get("language"), (s.text or "").strip()) for s in gather(root).iter("Say")]
    assert says == [
        ("en-IN", CONTENT.prompts["en"].phrases.choose_language.format(key=1)),
        ("hi-IN", CONTENT.prompts["hi"].phrases.choose_language.format(key=2)),
    ]


def test_call_opens_with_welcome_disclaimer_main_menu_then_keys(signed: SignedClient) -> None:
    status, root = signed.post("/voice/step?n=_language&p=0&s=0&m=0&l=en", {"Digits": "1"})
    assert status == 200 and root is not None
    assert verbs(root) == ["Gather", "Redirect"]
    g = gather(root)
    assert g.get("input") == "dtmf speech"
    assert g.get("numDigits") == "1"
    assert g.get("finishOnKey") == "", "otherwise # (main menu) would end the Gather with no digits"
    assert g.get("method") == "POST"
    assert g.get("language") == "en-IN"
    assert int(g.get("timeout", "0")) >= 5
    said = spoken(root)
    assert said[:2] == [PHRASES.welcome, PHRASES.disclaimer]
    assert "not a diagnosis" in PHRASES.disclaimer
    options = [s for s in said if s.startswith("For ")]
    assert options == [f"For {o.label['en']}, press {o.key}." for o in TREE.menus["main"].options]
    assert "For symptoms and causes, press 2." in options
    assert said[-1] == PHRASES.keys_intro, "the keys come after the options, once"
    for key in ["press 9", "press star", "press hash", "press 0"]:
        assert key in PHRASES.keys_intro
    assert query(g.get("action", ""))["n"] == "main"


def test_hints_come_from_option_labels_and_reserved_words(signed: SignedClient) -> None:
    _, root = signed.post("/voice/step?n=main&p=0&s=0&m=0&l=en", {"Digits": "#"})
    assert root is not None
    hints = [h.strip() for h in gather(root).get("hints", "").split(",")]
    for word in ["symptoms", "causes", "treatment", "go back", "operator", "repeat", "main menu"]:
        assert word in hints


def test_every_gather_is_followed_by_a_no_input_redirect(signed: SignedClient) -> None:
    _, root = signed.post("/voice/step?n=main&p=0&s=0&m=0&l=en", {"Digits": "#"})
    assert root is not None
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.get("method") == "POST"
    assert query(redirect.text or "") == {**query(gather(root).get("action", "")), "t": "1"}


@pytest.mark.parametrize("node", ALL_NODES)
def test_nine_repeats_where_you_are(signed: SignedClient, node: str) -> None:
    first = press(signed, TREE.back_of(node), TREE.keys_to(node)[-1]) if node != TREE.root else None
    again = press(signed, node, "9")
    assert node_of(again) == node
    assert TREE.title(node, "en") in spoken(again)
    if first is not None:
        assert spoken(again) == spoken(first)


@pytest.mark.parametrize("node", ALL_NODES)
def test_star_goes_back_to_the_menu_above(signed: SignedClient, node: str) -> None:
    root = press(signed, node, "*")
    if node == TREE.root:  # above the main menu is the choice of language
        assert node_of(root) == "_language"
        assert spoken(root)[0] == PHRASES.choose_language.format(key=1)
    else:
        assert node_of(root) == TREE.back_of(node)
        assert TREE.title(TREE.back_of(node), "en") in spoken(root)


@pytest.mark.parametrize("node", ALL_NODES)
def test_hash_goes_to_the_main_menu(signed: SignedClient, node: str) -> None:
    root = press(signed, node, "#")
    assert node_of(root) == TREE.root
    assert TREE.menus[TREE.root].title["en"] in spoken(root)


def expected_person(node: str) -> tuple[str, str | None, str | None]:
    """For 0 at a node, from the directory: (specialty, env var of its number, its queue)."""
    assert DIRECTORY is not None
    specialty = Directory(DIRECTORY, {}).specialty_for(TREE, node)
    entry = DIRECTORY.specialties[specialty]
    env = entry.dial[4:] if entry.dial and entry.dial.startswith("env:") else None
    return specialty, env, entry.queue


@pytest.mark.parametrize("node", ALL_NODES)
def test_zero_with_no_numbers_set_says_who_is_not_there(signed: SignedClient, node: str) -> None:
    specialty, _, queue = expected_person(node)
    root = press(signed, node, "0")
    name = DIRECTORY.specialties[specialty].name["en"] if DIRECTORY else ""
    if queue:  # a Twilio queue needs no number: the caller waits in it
        assert verbs(root) == ["Say", "Enqueue"] and (root[1].text or "").strip() == queue
    elif specialty == DIRECTORY_DEFAULT:  # nobody to put anyone through to: say so, carry on
        assert root.find("Dial") is None
        assert spoken(root)[0] == PHRASES.operator_unavailable
        assert node_of(root) == node
    else:  # a specialist not set up: say so and offer a call back or a recorded question
        assert spoken(root)[:3] == [
            PHRASES.unavailable.format(name=name),
            PHRASES.offer_callback,
            PHRASES.offer_record,
        ]
        assert node_of(root) == "_specialist"


@pytest.mark.parametrize("node", ALL_NODES)
def test_zero_puts_the_caller_through_to_the_matching_person(node: str) -> None:
    specialty, env, queue = expected_person(node)
    numbers = {"IVR_NEUROLOGIST_NUMBER": "+911100000001", "IVR_SURGICAL_REFERRALS_NUMBER": "+911100000002"}
    signed = SignedClient(make_app(OPERATOR_NUMBER=OPERATOR, DIRECTORY_ENV=numbers))
    status, root = signed.post(step_path(node), {"Digits": "0"})
    assert status == 200 and root is not None
    name = DIRECTORY.specialties[specialty].name["en"] if DIRECTORY else ""
    assert spoken(root) == [PHRASES.connecting_to.format(name=name)]
    if queue:
        assert verbs(root) == ["Say", "Enqueue"]
        return
    assert verbs(root) == ["Say", "Dial"]
    dial = root.find("Dial")
    assert dial is not None
    number = dial.find("Number")
    expected = OPERATOR if env == "IVR_OPERATOR_NUMBER" else numbers[str(env)]
    assert number is not None and (number.text or "").strip() == expected
    back = query(dial.get("action", ""))["n"]
    assert back == node or node.startswith("_")


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed", "canceled"])
def test_failed_transfer_offers_other_ways_and_the_way_back(outcome: str) -> None:
    signed = SignedClient(make_app(OPERATOR_NUMBER=OPERATOR))
    status, root = signed.post("/voice/dial?n=causes&p=1&s=0&m=0&l=en", {"DialCallStatus": outcome})
    assert status == 200 and root is not None
    assert spoken(root) == [
        PHRASES.dial_failed,
        PHRASES.offer_callback,
        PHRASES.offer_record,
        PHRASES.emergency_back,
    ]
    assert node_of(root) == "_specialist"
    assert query(gather(root).get("action", ""))["b"] == "causes"
    status, back = signed.post(gather(root).get("action", ""), {"Digits": "*"})
    assert back is not None and node_of(back) == "causes"


def test_answered_transfer_ends_politely_when_the_person_hangs_up() -> None:
    signed = SignedClient(make_app(OPERATOR_NUMBER=OPERATOR))
    _, root = signed.post("/voice/dial?n=main&p=0&s=0&m=0&l=en", {"DialCallStatus": "completed"})
    assert root is not None
    assert verbs(root) == ["Say", "Hangup"]
    assert spoken(root) == [PHRASES.goodbye]


def test_no_input_reprompts_shorter_waiting_longer_then_warns_and_ends(phone: Phone) -> None:
    first = answer(phone)
    assert first.gather is not None
    timeouts = [int(first.gather.get("timeout", "0"))]
    for _ in range(2):
        turn = phone.wait()
        assert turn.says[0] == PHRASES.no_input
        assert turn.gather is not None and not turn.ended
        assert len(" ".join(turn.says)) < len(first.text)
        assert TREE.menus["main"].title["en"] not in turn.says
        assert "For symptoms and causes, press 2." in turn.says
        timeouts.append(int(turn.gather.get("timeout", "0")))
    assert timeouts[0] < timeouts[1] < timeouts[2], "each silence buys the caller more time"
    warning = phone.wait()
    assert warning.says == [PHRASES.final_warning], "no person to offer when none is configured"
    assert warning.gather is not None
    last = phone.wait()
    assert last.ended and last.error is None
    assert last.says == [PHRASES.goodbye]
    assert last.documents[-1][-1].tag == "Hangup"


def test_the_warning_offers_a_person_when_one_is_configured(phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(make_app(OPERATOR_NUMBER=OPERATOR))
    answer(phone)
    phone.wait()
    phone.wait()
    offer = phone.wait()
    assert offer.says == [PHRASES.final_warning, PHRASES.final_person]
    assert phone.press("0").dialed == [OPERATOR]


def test_the_warning_says_how_to_keep_going_and_it_works(phone: Phone) -> None:
    answer(phone)
    for _ in range(3):
        phone.wait()
    kept = phone.press("9")
    assert not kept.ended
    assert "For symptoms and causes, press 2." in kept.says


def test_any_key_after_silence_resets_the_retries(phone: Phone) -> None:
    answer(phone)
    phone.wait()
    phone.wait()
    phone.press("2")
    assert not phone.wait().ended
    assert not phone.wait().ended


# Every key of the main menu does something; a smaller menu has free keys.
@pytest.mark.parametrize(
    ("node", "digit"), [("symptoms_causes", "3"), ("muscle_types", "4"), ("nerve_types", "3")]
)
def test_invalid_key_says_it_is_not_an_option_and_reprompts(
    signed: SignedClient, node: str, digit: str
) -> None:
    root = press(signed, node, digit)
    said = spoken(root)
    assert said[0] == PHRASES.not_an_option.format(heard=digit)
    assert node_of(root) == node
    first = TREE.menus[node].options[0]
    assert f"For {first.label['en']}, press {first.key}." in said


def test_invalid_key_in_a_section(signed: SignedClient) -> None:
    root = press(signed, "symptoms", "4")
    assert spoken(root)[0] == PHRASES.not_an_option.format(heard="4")
    assert node_of(root) == "symptoms"


def test_second_miss_in_a_row_adds_help(phone: Phone) -> None:
    answer(phone)
    once = phone.say("xyzzy")
    assert PHRASES.help not in once.says
    twice = phone.say("blah blah")
    assert twice.says[0] == PHRASES.not_understood.format(heard="blah blah")
    assert PHRASES.help in twice.says


@pytest.mark.parametrize(
    ("speech", "node"),
    [
        ("symptoms", "symptoms"),
        ("Causes.", "causes"),
        ("what are the causes please", "causes"),
        ("I'd like to hear about treatment", "treatment"),
        ("what are they", "about"),
        ("two", "symptoms_causes"),
        ("press 3", "categories"),
        ("types", "categories"),
        ("myopathies", "myopathies"),
        ("tell me about the symptoms", "symptoms"),
    ],
)
def test_speech_picks_options_from_the_main_menu(phone: Phone, speech: str, node: str) -> None:
    answer(phone)
    turn = phone.say(speech)
    assert turn.gather is not None
    assert query(turn.gather.get("action", ""))["n"] == node
    assert TREE.title(node, "en") in turn.says


@pytest.mark.parametrize(
    ("speech", "expect"),
    [
        ("go back", "categories"),
        ("main menu", "main"),
        ("repeat", "muscle_types"),
        ("say that again", "muscle_types"),
        ("help", "muscle_types"),
    ],
)
def test_speech_reaches_the_reserved_actions(phone: Phone, speech: str, expect: str) -> None:
    answer(phone)
    phone.say("types")
    phone.say("muscle")
    turn = phone.say(speech)
    assert turn.gather is not None
    assert query(turn.gather.get("action", ""))["n"] == expect
    if speech == "help":
        assert turn.says[0] == PHRASES.help


def test_speech_operator_without_an_operator(phone: Phone) -> None:
    answer(phone)
    turn = phone.say("can I talk to someone")
    assert turn.says[0] == PHRASES.operator_unavailable


def test_speech_operator_with_an_operator(phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(make_app(OPERATOR_NUMBER=OPERATOR))
    answer(phone)
    assert phone.say("operator").dialed == [OPERATOR]


def test_unrecognised_speech_is_read_back_briefly(phone: Phone) -> None:
    answer(phone)
    turn = phone.say("the weather in " + "very " * 40 + "far away")
    assert turn.says[0].startswith("Sorry, I did not understand the weather in")
    assert len(turn.says[0].split()) < 20
    assert query((turn.gather or ET.Element("x")).get("action", ""))["n"] == "main"


def test_long_sections_are_read_part_by_part(phone: Phone) -> None:
    answer(phone)
    parts = TREE.section("symptoms", "en").parts
    assert len(parts) > 1
    phone.press("2")
    turn = phone.press("1")
    assert turn.says == ["Symptoms.", parts[0], PHRASES.part_controls]
    for i in range(1, len(parts)):
        turn = phone.press("1")
        assert parts[i] in turn.says
        if i < len(parts) - 1:
            assert turn.says[-1] == PHRASES.part_controls
    assert turn.says[-3] == PHRASES.last_part
    reviewed = TREE.section("symptoms", "en").meta.reviewed_on
    month = CONTENT.prompts["en"].months[reviewed.month - 1]
    assert turn.says[-2] == f"This information was last reviewed in {month} {reviewed.year}."
    assert turn.says[-1] == PHRASES.last_part_controls
    beyond = phone.press("1")
    assert beyond.says == [PHRASES.no_more_parts, PHRASES.last_part_controls]
    again = phone.press("9")
    assert parts[-1] in again.says
    assert phone.say("next").says[0] == PHRASES.no_more_parts


def test_every_part_is_short_enough_to_hold_in_mind() -> None:
    for by_lang in TREE.sections.values():
        section = by_lang["en"]
        for part in section.parts:
            assert len(part.split()) <= 50, (section.id, part)


def test_garbage_state_takes_the_caller_to_the_main_menu(signed: SignedClient) -> None:
    for path in [
        "/voice/step",
        "/voice/step?n=nowhere",
        "/voice/step?n=symptoms&p=99",
        "/voice/step?n=main&p=x",
        "/voice/step?n=main&s=-1",
        "/voice/step?n=main&l=xx",
    ]:
        status, root = signed.post(path, {"Digits": "2"})
        assert status == 200 and root is not None, path
        assert spoken(root)[0] == PHRASES.state_lost
        assert node_of(root) == "main"


def test_missing_and_odd_fields_are_handled(signed: SignedClient) -> None:
    for params in [{}, {"Digits": ""}, {"Digits": "12345"}, {"SpeechResult": "\u202e\x00?"}, {"Digits": "٣"}]:
        status, root = signed.post(step_path("main"), params)
        assert status == 200 and root is not None, params
        assert verbs(root) in (["Gather", "Redirect"], ["Say", "Hangup"])


def test_an_internal_failure_still_gets_spoken_safe_twiml(app: Flask, signed: SignedClient) -> None:
    class BrokenVoice:
        def speak(self, verb: object, text: str, prompts: object) -> None:
            raise RuntimeError("voice failed")

    app.extensions["ivr"].voice = BrokenVoice()
    status, root = signed.post("/voice")
    assert status == 200 and root is not None
    assert spoken(root)[0] == PHRASES.state_lost
    assert node_of(root) == "main"


def test_get_is_not_allowed(client: object) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    assert client.get("/voice").status_code == 405


@pytest.mark.parametrize("operator", [None, OPERATOR])
def test_fallback_apologises_offers_a_person_and_the_main_menu(operator: str | None) -> None:
    signed = SignedClient(make_app(OPERATOR_NUMBER=operator))
    status, root = signed.post(
        "/voice/fallback", {"ErrorCode": "11200", "ErrorUrl": "https://x.example/voice/step?n=\u0000"}
    )
    assert status == 200 and root is not None
    said = spoken(root)
    assert said[0] == PHRASES.state_lost
    assert (PHRASES.final_person in said) is (operator is not None)
    assert node_of(root) == TREE.root
    assert verbs(root) == ["Gather", "Redirect"]


def test_fallback_is_signed_too(client: object) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    assert client.post("/voice/fallback", data={"ErrorCode": "11200"}).status_code == 403
