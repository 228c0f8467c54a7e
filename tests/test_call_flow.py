"""Walk real call scripts through signed webhooks and check what the caller hears and can do."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.directory import Directory
from ivr.content.tree import fill
from ivr.engine import CHOSEN, GREETED, LANGUAGE, PART_PAUSE_S, SAFETY, SPECIALIST
from ivr.engine.model import HINTED
from ivr.simulator import Phone
from tests.support.app import CALLBACK_DAYS, OPERATOR, RECORDING_DAYS, SignedClient, answer, make_app
from tests.support.twiml import assert_valid_twiml, gather, node_of, query, spoken, verbs

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
DIRECTORY = CONTENT.directory
EN = CONTENT.prompts["en"]
HI = CONTENT.prompts["hi"]
PHRASES = EN.phrases
ALL_NODES = TREE.nodes()
# An English caller part-way through a call: language chosen, welcomed, told the emergency number.
MID_CALL = CHOSEN | GREETED | SAFETY


def topic_ends() -> list[str]:
    """The section each topic ends with (a series' last section, or a lone section)."""
    return [s for s in TREE.sections if TREE.neighbour(s, +1) is None]


# Where a caller can be: each menu and section at its start, and each topic's end.
PLACES = [(n, 0) for n in ALL_NODES] + [(s, TREE.part_count(s)) for s in topic_ends()]
PLACE_IDS = [f"{n}-{p}" for n, p in PLACES]


def step_path(node: str, part: int = 0, flags: int = MID_CALL, extra: str = "") -> str:
    return f"/voice/step?n={node}&p={part}&s=0&m=0&l=en&f={flags:x}{extra}"


def press(signed: SignedClient, node: str, digits: str, part: int = 0, flags: int = MID_CALL) -> ET.Element:
    status, root = signed.post(step_path(node, part, flags), {"Digits": digits})
    assert status == 200 and root is not None
    return root


def follow(signed: SignedClient, root: ET.Element, params: dict[str, str]) -> ET.Element:
    """Answer a reply's Gather as Twilio would: post to its action URL."""
    status, reply = signed.post(gather(root).get("action", ""), params)
    assert status == 200 and reply is not None
    return reply


def options(menu: str, lang: str = "en") -> list[str]:
    """A menu's options as the content words them: "For symptoms, press 1."."""
    phrases = CONTENT.prompts[lang].phrases
    return [phrases.option.format(label=o.label[lang], key=o.key) for o in TREE.menus[menu].options]


def key_line(key: str, action: str, lang: str = "en") -> str:
    """One key as help, the first call and a topic's end say it: "To repeat, press 9."."""
    prompts = CONTENT.prompts[lang]
    said_key = prompts.key_names.get(key, key)
    return prompts.phrases.help_line.format(action=getattr(prompts.actions, action), key=said_key)


def part_said(node: str, part: int, lang: str = "en") -> str:
    return fill(TREE.section(node, lang).parts[part], "1 1 2")


def topic_keys() -> list[str]:
    """The keys to move between parts, said once a call with the first part heard."""
    return [key_line("1", "next"), key_line("2", "previous")]


def end_keys() -> list[str]:
    return [key_line("1", "again"), key_line("8", "text"), key_line("*", "leave"), key_line("#", "main")]


def test_a_new_caller_first_chooses_a_language_each_offered_in_its_own(signed: SignedClient) -> None:
    status, root = signed.post("/voice")
    assert status == 200 and root is not None
    assert verbs(root) == ["Gather", "Redirect"]
    assert node_of(root) == LANGUAGE
    says = [(s.get("language"), (s.text or "").strip()) for s in gather(root).iter("Say")]
    assert says == [
        ("en-IN", PHRASES.safety.format(number="1 1 2")),
        ("hi-IN", HI.phrases.safety.format(number="1 1 2")),
        ("en-IN", PHRASES.choose_language.format(key=1)),
        ("hi-IN", HI.phrases.choose_language.format(key=2)),
        ("en-IN", PHRASES.language_by_name),
        ("hi-IN", HI.phrases.language_by_name),
    ], "safety first, then each choice in its own language, then that the name can be said"


def test_call_opens_with_welcome_disclaimer_main_menu_then_keys(signed: SignedClient) -> None:
    _, chooser = signed.post("/voice")
    assert chooser is not None
    asked = follow(signed, chooser, {"Digits": "1"})  # English: may the line remember it? 2, no
    root = follow(signed, asked, {"Digits": "2"})
    assert verbs(root) == ["Gather", "Redirect"]
    g = gather(root)
    assert g.get("input") == "dtmf speech"
    assert g.get("numDigits") == "1"
    assert g.get("finishOnKey") == "", "otherwise # (main menu) would end the Gather with no digits"
    assert g.get("method") == "POST"
    assert g.get("language") == "en-IN"
    assert int(g.get("timeout", "0")) >= 5
    assert "not a diagnosis" in PHRASES.disclaimer
    assert spoken(root) == [
        PHRASES.welcome,
        PHRASES.disclaimer,
        *options("main"),
        PHRASES.speech_hint,
        key_line("0", "operator"),
        key_line("6", "help"),
    ], "the emergency sentence was said already; no menu title; the keys come once, after the options"
    assert TREE.menus["main"].title["en"] not in spoken(root)
    assert {s.get("language") for s in g.iter("Say")} == {"en-IN"}, "one language once chosen"
    assert node_of(root) == TREE.root
    assert_valid_twiml(ET.tostring(root))


def test_hints_come_from_option_labels_and_reserved_words(signed: SignedClient) -> None:
    root = press(signed, "main", "#")
    hints = {h.strip().lower() for h in gather(root).get("hints", "").split(",")}
    for word in [
        "symptoms",
        "causes",
        "treatment",
        "myopathies",
        "go back",
        "operator",
        "repeat",
        "main menu",
    ]:
        assert word in hints, word


def test_every_gather_is_followed_by_a_no_input_redirect(signed: SignedClient) -> None:
    for node, part in [("main", 0), ("symptoms", 1), ("causes", TREE.part_count("causes"))]:
        root = press(signed, node, "9", part)
        redirect = root.find("Redirect")
        assert redirect is not None and redirect.get("method") == "POST"
        assert query(redirect.text or "") == {**query(gather(root).get("action", "")), "t": "1"}


def arrive_at(signed: SignedClient, node: str) -> ET.Element:
    """Reach a node the way a caller does: its option, hash for the main menu, or the part before."""
    if node == TREE.root:
        return press(signed, "about", "#")
    before = TREE.neighbour(node, -1)
    if before is not None:  # a later section of a series is reached by going on from the one before
        return press(signed, before, "1", TREE.part_count(before) - 1)
    return press(signed, TREE.back_of(node), TREE.keys_to(node)[-1])


@pytest.mark.parametrize("node", ALL_NODES)
def test_nine_repeats_where_you_are(signed: SignedClient, node: str) -> None:
    first = arrive_at(signed, node)
    assert node_of(first) == node
    again = follow(signed, first, {"Digits": "9"})
    assert node_of(again) == node and query(gather(again).get("action", ""))["p"] == "0"
    assert TREE.title(node, "en") in spoken(again)
    if node in TREE.sections:
        assert spoken(again) == [TREE.section(node, "en").title, part_said(node, 0)]
        assert spoken(first) == [*spoken(again), *topic_keys()], "the part keys once, not on a repeat"
    else:
        assert spoken(again) == spoken(first)


@pytest.mark.parametrize(("node", "part"), PLACES, ids=PLACE_IDS)
def test_star_goes_back_to_the_menu_above(signed: SignedClient, node: str, part: int) -> None:
    root = press(signed, node, "*", part)
    if node == TREE.root:  # above the main menu is the choice of language, in every language
        assert node_of(root) == LANGUAGE
        assert spoken(root)[0] == PHRASES.choose_language.format(key=1)
        assert {s.get("language") for s in root.iter("Say")} == {"en-IN", "hi-IN"}
        return
    above = TREE.back_of(node)
    if TREE.series_of(node) is not None:
        assert above == TREE.root, "a series is not a menu: star from any of its sections is the main menu"
    assert node_of(root) == above
    assert TREE.title(above, "en") in spoken(root)


@pytest.mark.parametrize(("node", "part"), PLACES, ids=PLACE_IDS)
def test_hash_goes_to_the_main_menu(signed: SignedClient, node: str, part: int) -> None:
    root = press(signed, node, "#", part)
    assert node_of(root) == TREE.root
    if node == TREE.root:  # already there: say so, and the options (not the title again)
        assert spoken(root) == [PHRASES.at_main_menu, *options("main")]
    else:
        assert TREE.menus[TREE.root].title["en"] in spoken(root)


def expected_person(node: str) -> tuple[str, str | None, str | None]:
    """For 0 at a node, from the directory: (specialty, env var of its number, its queue)."""
    assert DIRECTORY is not None
    specialty = Directory(DIRECTORY, {}).specialty_for(TREE, node)
    entry = DIRECTORY.specialties[specialty]
    env = entry.dial[4:] if entry.dial and entry.dial.startswith("env:") else None
    return specialty, env, entry.queue


@pytest.mark.parametrize("node", ALL_NODES)
def test_zero_in_hours_with_no_numbers_set_queues_or_offers_a_call_back(
    signed: SignedClient, node: str
) -> None:
    specialty, _, queue = expected_person(node)
    root = press(signed, node, "0")
    assert DIRECTORY is not None
    if queue:  # a Twilio queue needs no number: in its hours the caller waits in it
        name = DIRECTORY.specialties[specialty].name["en"]
        assert verbs(root) == ["Say", "Enqueue"] and (root[1].text or "").strip() == queue
        assert spoken(root) == [PHRASES.connecting_to.format(name=name)]
        return
    # A specialist with no number falls to the help desk; with none set up either, say so and
    # offer a call back or a recorded question, and the way back.
    assert root.find("Dial") is None
    assert spoken(root) == [
        PHRASES.operator_unavailable,
        PHRASES.offer_callback.format(days=CALLBACK_DAYS),
        PHRASES.offer_record.format(days=RECORDING_DAYS),
        PHRASES.go_back,
    ]
    assert node_of(root) == SPECIALIST
    assert query(gather(root).get("action", ""))["b"] == node
    back = follow(signed, root, {"Digits": "*"})
    assert node_of(back) == node


@pytest.mark.parametrize("node", ALL_NODES)
def test_zero_puts_the_caller_through_to_the_matching_person(node: str) -> None:
    specialty, env, queue = expected_person(node)
    numbers = {"IVR_NEUROLOGIST_NUMBER": "+911140000001", "IVR_SURGICAL_REFERRALS_NUMBER": "+911140000002"}
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
    assert back == node


def test_a_hindi_caller_is_warned_when_the_person_may_not_speak_hindi() -> None:
    numbers = {"IVR_SURGICAL_REFERRALS_NUMBER": "+911140000002"}
    signed = SignedClient(make_app(DIRECTORY_ENV=numbers))
    status, root = signed.post(step_path("specialists").replace("l=en", "l=hi"), {"Digits": "0"})
    assert status == 200 and root is not None
    assert DIRECTORY is not None
    name = DIRECTORY.specialties["surgical_referrals"].name["hi"]
    assert spoken(root) == [
        HI.phrases.connecting_to.format(name=name),
        HI.phrases.language_note.format(name=name),
    ]
    assert {s.get("language") for s in root.iter("Say")} == {"hi-IN"}
    assert verbs(root) == ["Say", "Say", "Dial"]


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed", "canceled"])
def test_failed_transfer_offers_other_ways_and_the_way_back(outcome: str) -> None:
    signed = SignedClient(make_app(OPERATOR_NUMBER=OPERATOR))
    flags = f"{MID_CALL | HINTED:x}"  # the caller was in a topic: they have heard the part keys
    status, root = signed.post(
        f"/voice/dial?n=causes&p=1&s=0&m=0&l=en&f={flags}", {"DialCallStatus": outcome}
    )
    assert status == 200 and root is not None
    assert spoken(root) == [
        PHRASES.dial_failed,
        PHRASES.offer_callback.format(days=CALLBACK_DAYS),
        PHRASES.offer_record.format(days=RECORDING_DAYS),
        PHRASES.go_back,
    ]
    assert node_of(root) == SPECIALIST
    action = query(gather(root).get("action", ""))
    assert (action["b"], action["bp"]) == ("causes", "1")
    back = follow(signed, root, {"Digits": "*"})
    assert node_of(back) == "causes"
    assert query(gather(back).get("action", ""))["p"] == "1", "back at the part the caller was hearing"
    assert spoken(back) == [part_said("causes", 1)]


def test_answered_transfer_ends_politely_when_the_person_hangs_up() -> None:
    signed = SignedClient(make_app(OPERATOR_NUMBER=OPERATOR))
    _, root = signed.post(
        f"/voice/dial?n=main&p=0&s=0&m=0&l=en&f={MID_CALL:x}", {"DialCallStatus": "completed"}
    )
    assert root is not None
    assert verbs(root) == ["Say", "Hangup"]
    assert spoken(root) == [PHRASES.goodbye]


def test_no_input_reprompts_shorter_waiting_longer_then_warns_and_ends(phone: Phone) -> None:
    first = answer(phone)
    assert first.gather is not None
    timeouts = [int(first.gather.get("timeout", "0"))]
    for _ in range(2):
        turn = phone.wait()
        assert turn.says == [PHRASES.no_input, *options("main")], "sorry, then the options alone"
        assert turn.gather is not None and not turn.ended
        assert len(" ".join(turn.says)) < len(first.text)
        timeouts.append(int(turn.gather.get("timeout", "0")))
    assert timeouts[0] < timeouts[1] < timeouts[2], "each silence buys the caller more time"
    warning = phone.wait()
    assert warning.says == [PHRASES.final_warning, PHRASES.offer_person], (
        "0 is offered even with no one set up"
    )
    assert warning.gather is not None
    last = phone.wait()
    assert last.ended and last.error is None
    assert last.says == [PHRASES.goodbye]
    assert last.documents[-1][-1].tag == "Hangup"


@pytest.mark.parametrize("operator", [None, OPERATOR], ids=["no one set up", "help desk"])
def test_the_warning_offers_a_person_and_zero_there_leads_somewhere(
    phone_for: Callable[[Flask], Phone], operator: str | None
) -> None:
    phone = phone_for(make_app(OPERATOR_NUMBER=operator))
    answer(phone)
    phone.wait()
    phone.wait()
    offer = phone.wait()
    assert offer.says == [PHRASES.final_warning, PHRASES.offer_person]
    person = phone.press("0")
    if operator:
        assert person.dialed == [OPERATOR]
    else:
        assert not person.dialed and not person.ended
        assert person.says == [
            PHRASES.operator_unavailable,
            PHRASES.offer_callback.format(days=CALLBACK_DAYS),
            PHRASES.offer_record.format(days=RECORDING_DAYS),
            PHRASES.go_back,
        ]
        assert person.gather is not None and query(person.gather.get("action", ""))["n"] == SPECIALIST


def test_the_warning_says_how_to_keep_going_and_it_works(phone: Phone) -> None:
    answer(phone)
    for _ in range(3):
        phone.wait()
    kept = phone.press("9")
    assert not kept.ended
    assert kept.says == [TREE.menus["main"].title["en"], *options("main"), PHRASES.speech_hint]
    assert phone.wait().says[0] == PHRASES.no_input, "the silences are counted again from the start"


def test_the_warning_can_be_answered_by_speaking_too(phone: Phone) -> None:
    answer(phone)
    for _ in range(3):
        phone.wait()
    kept = phone.say("treatment")
    assert not kept.ended and kept.gather is not None
    assert query(kept.gather.get("action", ""))["n"] == "treatment"


def test_any_key_after_silence_resets_the_retries(phone: Phone) -> None:
    answer(phone)
    phone.wait()
    phone.wait()
    phone.press("2")
    for _ in range(2):
        again = phone.wait()
        assert not again.ended and again.says == [PHRASES.no_input, *options("treatment")]
    assert phone.wait().says == [PHRASES.final_warning, PHRASES.offer_person]


# Every key of the main menu does something; a smaller menu has free keys.
@pytest.mark.parametrize(
    ("node", "digit"),
    [("symptoms_causes", "3"), ("symptoms_causes", "4"), ("treatment", "3"), ("treatment", "4")],
)
def test_invalid_key_says_it_is_not_an_option_and_reprompts(
    signed: SignedClient, node: str, digit: str
) -> None:
    root = press(signed, node, digit)
    assert spoken(root) == [PHRASES.not_an_option.format(heard=digit), *options(node)]
    assert node_of(root) == node
    assert query(gather(root).get("action", ""))["m"] == "1", "the miss is counted"


@pytest.mark.parametrize("digit", ["3", "4"])
def test_invalid_key_in_a_topic_says_so_and_says_the_part_again(signed: SignedClient, digit: str) -> None:
    root = press(signed, "causes", digit, part=1, flags=MID_CALL | HINTED)
    assert spoken(root) == [PHRASES.not_an_option.format(heard=digit), part_said("causes", 1)]
    action = query(gather(root).get("action", ""))
    assert (action["n"], action["p"]) == ("causes", "1"), "a wrong key never moves the caller on"


def test_unknown_words_in_a_topic_escalate_but_keep_the_caller_at_the_same_part(phone: Phone) -> None:
    answer(phone)
    phone.press("1")
    phone.press("1")
    phone.press("1")  # symptoms, its second part
    part = part_said("symptoms", 1)
    once = phone.say("xyzzy")
    assert once.says == [PHRASES.not_understood, part]
    twice = phone.say("blah blah")
    assert twice.says == [PHRASES.not_understood, PHRASES.offer_person, part]
    for turn in (once, twice):
        assert turn.gather is not None
        assert query(turn.gather.get("action", ""))["p"] == "1"
    thrice = phone.say("blah blah")
    assert thrice.says == [
        PHRASES.not_understood,
        EN.phrases.safety.format(number="1 1 2"),
        PHRASES.misses_warning,
        PHRASES.offer_person,
    ]
    fourth = phone.say("blah blah")  # still talking: put through to a person, not hung up on
    assert not fourth.ended and fourth.says[0] == PHRASES.not_understood


@pytest.mark.parametrize(
    ("speech", "node"),
    [
        ("symptoms", "symptoms"),
        ("Causes.", "causes"),
        ("what are the causes please", "causes"),
        ("I'd like to hear about treatment", "treatment"),
        ("what are they", "about"),
        ("one", "symptoms_causes"),
        ("two", "treatment"),
        ("press 3", "categories"),
        ("types", "categories"),
        ("myopathies", "myopathies"),
        ("tell me about the symptoms", "symptoms"),
        ("medicines", "drug_therapy"),
        ("referrals", "specialists"),
    ],
)
def test_speech_picks_options_from_the_main_menu(phone: Phone, speech: str, node: str) -> None:
    answer(phone)
    turn = phone.say(speech)
    assert turn.gather is not None
    landed = TREE.first_section(node)  # a series starts at its first section
    assert query(turn.gather.get("action", ""))["n"] == landed
    assert TREE.title(landed, "en") in turn.says
    if landed in TREE.sections:
        assert part_said(landed, 0) in turn.says, "a topic starts straight away"


@pytest.mark.parametrize(
    ("speech", "expect"),
    [
        ("go back", "main"),
        ("main menu", "main"),
        ("repeat", "treatment"),
        ("say that again", "treatment"),
        ("help", "treatment"),
    ],
)
def test_speech_reaches_the_reserved_actions_in_a_sub_menu(phone: Phone, speech: str, expect: str) -> None:
    answer(phone)
    phone.say("treatment")
    turn = phone.say(speech)
    assert turn.gather is not None
    assert query(turn.gather.get("action", ""))["n"] == expect
    if speech == "help":  # the keys that work in a sub-menu, the choice first; no options, no intro
        assert turn.says == [
            key_line("9", "repeat"),
            key_line("*", "back"),
            key_line("#", "main"),
            key_line("0", "operator"),
            PHRASES.help_more,
        ]
    elif expect == "treatment":
        assert turn.says == [TREE.menus["treatment"].title["en"], *options("treatment")]


def test_speech_moves_between_parts_and_go_back_leaves_the_topic(phone: Phone) -> None:
    answer(phone)
    phone.say("causes")

    def at(turn_says: list[str], turn_gather: ET.Element | None) -> tuple[str, str]:
        assert turn_gather is not None, turn_says
        action = query(turn_gather.get("action", ""))
        return action["n"], action["p"]

    ahead = phone.say("next")
    assert at(ahead.says, ahead.gather) == ("causes", "1") and ahead.says == [part_said("causes", 1)]
    skipped = phone.say("skip ahead")
    assert at(skipped.says, skipped.gather) == ("causes", "2")
    previous = phone.say("previous")
    assert at(previous.says, previous.gather) == ("causes", "1"), "previous is the part before, not back"
    assert previous.says == [part_said("causes", 1)]
    left = phone.say("go back")
    assert at(left.says, left.gather) == ("symptoms_causes", "0")


def test_speech_operator_without_an_operator(phone: Phone) -> None:
    answer(phone)
    turn = phone.say("can I talk to someone")
    assert turn.says == [
        PHRASES.operator_unavailable,
        PHRASES.offer_callback.format(days=CALLBACK_DAYS),
        PHRASES.offer_record.format(days=RECORDING_DAYS),
        PHRASES.go_back,
    ]
    assert turn.gather is not None and query(turn.gather.get("action", ""))["n"] == SPECIALIST


def test_speech_operator_with_an_operator(phone_for: Callable[[Flask], Phone]) -> None:
    phone = phone_for(make_app(OPERATOR_NUMBER=OPERATOR))
    answer(phone)
    assert phone.say("operator").dialed == [OPERATOR]


def test_unrecognised_speech_is_not_read_back(phone: Phone) -> None:
    # Anyone in the room may have been heard, and words read back into a sentence make nonsense.
    answer(phone)
    turn = phone.say("the weather in " + "very " * 40 + "far away")
    assert turn.says[0] == PHRASES.not_understood and "weather" not in turn.text
    assert turn.says[1:] == options("main")
    assert query((turn.gather or ET.Element("x")).get("action", ""))["n"] == "main"


def test_a_caller_pressing_1_hears_each_part_then_the_end_which_9_repeats(phone: Phone) -> None:
    answer(phone)
    parts = TREE.section("symptoms", "en").parts
    assert len(parts) > 1
    phone.press("1")
    turn = phone.press("1")
    assert turn.says == [TREE.section("symptoms", "en").title, part_said("symptoms", 0), *topic_keys()]
    for i in range(1, len(parts)):
        turn = phone.press("1")
        assert turn.says == [part_said("symptoms", i)], "the part alone: no title, no keys again"
        assert turn.gather is not None and int(turn.gather.get("timeout", "0")) == PART_PAUSE_S
    end = phone.press("1")
    updated = TREE.section("symptoms", "en").meta.updated_on
    month = EN.months[updated.month - 1]
    assert end.says == [
        PHRASES.end_of_topic,
        PHRASES.doctor_advice,
        PHRASES.updated.format(month=month, year=updated.year),
        *end_keys(),
    ]
    assert end.gather is not None
    assert query(end.gather.get("action", ""))["p"] == str(len(parts)), "the topic's end"
    assert int(end.gather.get("timeout", "0")) > PART_PAUSE_S
    assert phone.press("9").says == end.says, "9 at the end says the end again, in full"
    said_next = phone.say("next")
    assert said_next.says == end.says, "nothing comes after the end: it is said again"


@pytest.mark.unit
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
        "/voice/step?n=main&m=9",
        "/voice/step?n=main&f=zz",
        "/voice/step?n=categories",  # a series is entered, never stood at
        "/voice/step?n=_specialist&b=nowhere",
    ]:
        status, root = signed.post(path, {"Digits": "2"})
        assert status == 200 and root is not None, path
        assert spoken(root)[:2] == [PHRASES.state_lost, PHRASES.offer_person], path
        assert node_of(root) == "main"


def test_missing_and_odd_fields_are_handled(signed: SignedClient) -> None:
    for params in [{}, {"Digits": ""}, {"Digits": "12345"}, {"SpeechResult": "\u202e\x00?"}, {"Digits": "٣"}]:
        status, root = signed.post(step_path("main"), params)
        assert status == 200 and root is not None, params
        assert verbs(root) in (["Gather", "Redirect"], ["Say", "Hangup"])


def test_an_internal_failure_still_gets_spoken_safe_twiml(app: Flask, signed: SignedClient) -> None:
    class BrokenNarrator:
        def speak(self, verb: object, text: str, prompts: object, rate: str) -> None:
            raise RuntimeError("narrator failed")

    services.runtime(app).narrator = BrokenNarrator()
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
    assert spoken(root) == [
        PHRASES.state_lost,
        PHRASES.offer_person,
        TREE.menus[TREE.root].title["en"],
        *options("main"),
        PHRASES.speech_hint,
    ]
    assert node_of(root) == TREE.root
    assert verbs(root) == ["Gather", "Redirect"]
    person = follow(signed, root, {"Digits": "0"})
    if operator:  # the person offered is there
        dial = person.find("Dial")
        assert dial is not None and (dial.findtext("Number") or "").strip() == OPERATOR
    else:  # no one set up: a call back or a question instead
        assert node_of(person) == SPECIALIST
        assert spoken(person)[:2] == [
            PHRASES.operator_unavailable,
            PHRASES.offer_callback.format(days=CALLBACK_DAYS),
        ]


def test_fallback_is_signed_too(client: object) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    assert client.post("/voice/fallback", data={"ErrorCode": "11200"}).status_code == 403
