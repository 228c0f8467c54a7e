"""The pure engine and speech matcher, without Flask."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr import speech
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import (
    CHOSEN,
    GREETED,
    SAFETY,
    SPEECH_ACTIONS,
    SYSTEM_NODES,
    CallerInput,
    CallState,
    Kind,
    Line,
    next_step,
    start,
    state_from_query,
    state_to_query,
)
from ivr.engine.codec import last_part
from ivr.engine.flow import STEP_CACHE_SIZE, _next_step
from ivr.engine.model import FLAGS, HELP_MORE, HINTED, MAX_MISSES, MAX_SILENCES, RESUME
from ivr.engine.understanding import matcher

LINE = Line(content=load_content(REPO_ROOT))
TREE = LINE.content.tree
NUMBERS = LINE.prompts("en").numbers
IN_CALL = CHOSEN | GREETED | SAFETY  # a caller who chose a language and heard the welcome


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("go back", "back"),
        ("Go back, please.", "back"),
        ("take me back to the main menu", "main"),
        ("symptoms", "s"),
        ("tell me about the symptoms", "s"),
        ("SYMPTOMS!", "s"),
        ("four", "4"),
        ("press four", "4"),
        ("number 4", "4"),
        ("for symptoms", "s"),
        ("", None),
        ("   ", None),
        ("bananas", None),
    ],
)
def test_speech_match(utterance: str, expected: str | None) -> None:
    choices = {"back": ["back", "go back"], "main": ["main menu"], "s": ["symptoms", "symptom"]}
    assert speech.match(utterance, choices, NUMBERS, LINE.prompts("en").fillers) == expected


def _match_by_definition(
    utterance: str, choices: dict[str, list[str]], numbers: Any, fillers: tuple[str, ...]
) -> str | None:
    """The matching rule written out plainly (slow): what speech.Matcher must agree with."""
    words = speech.normalise(utterance).split()
    core = [w for w in words if w not in {speech.normalise(f) for f in fillers}]
    if len(core) == 1:
        if core[0].isdigit() and len(core[0]) == 1:
            return core[0]
        for digit, names in numbers.items():
            if core[0] in {speech.normalise(n) for n in names}:
                return str(digit)
    best: tuple[int, int, str] | None = None
    for result, phrases in choices.items():
        for phrase in phrases:
            tokens = speech.normalise(phrase).split()
            ends = [
                i + len(tokens) for i in range(len(words)) if tokens and words[i : i + len(tokens)] == tokens
            ]
            if ends and (best is None or (len(tokens), ends[-1]) > best[:2]):  # ties: said last, listed first
                best = (len(tokens), ends[-1], result)
    return best[2] if best else None


MAIN_STATE = CallState(node=TREE.root, flags=IN_CALL)


def _choices_for_test(state: CallState) -> dict[str, list[str]]:
    """Every phrase the main menu listens for, written out from the content: the actions, the other
    language, the menu's options, then the places below its options (a series' sections too)."""
    p = LINE.prompts(state.lang)
    choices: dict[str, list[str]] = {f"action:{a}": list(getattr(p.speech, a)) for a in SPEECH_ACTIONS}
    choices["lang:hi"] = list(LINE.prompts("hi").name)
    for option in TREE.menus[state.node].options:
        choices[f"key:{option.key}"] = [option.label["en"], *option.say.get("en", [])]
    for option in TREE.menus[state.node].options:
        for below in TREE.children(option.goto):
            choices[f"goto:{below}"] = TREE.words_for(below, "en")
    return choices


MAIN_CHOICES = _choices_for_test(MAIN_STATE)
MAIN_WORDS = sorted(
    {w for phrases in MAIN_CHOICES.values() for p in phrases for w in speech.normalise(p).split()}
)


def test_the_main_menu_listens_for_the_places_below_it_by_name() -> None:
    # "symptoms" at the main menu goes straight to the topic, past the menu of symptoms and causes;
    # a section of the series of types is named by its own words.
    assert {"goto:symptoms", "goto:causes", "goto:drug_therapy", "goto:specialists"} <= set(MAIN_CHOICES)
    assert {f"goto:{s}" for s in TREE.topic_sections("categories")} <= set(MAIN_CHOICES)
    step = next_step(LINE, MAIN_STATE, CallerInput(speech="tell me about muscular dystrophy"))
    assert (step.state.node, step.state.part) == ("muscular_dystrophies", 0)
    assert step.say[0] == TREE.section("muscular_dystrophies", "en").title


@given(st.lists(st.sampled_from([*MAIN_WORDS, "please", "um", "the", "two", "9", "zebra"]), max_size=8))
def test_the_matcher_agrees_with_the_rule_at_the_main_menu(words: list[str]) -> None:
    p = LINE.prompts("en")
    utterance = " ".join(words)
    expected = _match_by_definition(utterance, MAIN_CHOICES, p.numbers, tuple(p.fillers))
    assert speech.Matcher(MAIN_CHOICES, p.numbers, p.fillers).match(utterance) == expected
    # The engine listens for exactly these phrases, in this order.
    assert matcher(LINE, MAIN_STATE).match(utterance) == expected
    assert next_step(LINE, MAIN_STATE, CallerInput(speech=utterance or "zebra")).event  # and the engine copes


def test_normalise_folds_case_punctuation_and_width() -> None:
    assert speech.normalise("  Ｓymptoms?!  Please ") == "symptoms please"


def test_state_round_trips_through_the_url() -> None:
    end = TREE.part_count("symptoms")
    for state in [
        CallState(node="symptoms", part=2, silences=1, misses=1, lang="en", flags=IN_CALL | HINTED),
        CallState(node="symptoms", part=end, misses=MAX_MISSES + 1, flags=FLAGS),  # the topic's end
        CallState(node="main", rate="slow", patience=2, visited=0b101, flags=IN_CALL | RESUME),
        CallState(node="_emergency", ret="causes", ret_part=2, rate="fast", flags=IN_CALL | HELP_MORE),
        CallState(node="_specialist", ret="_language", lang="hi", flags=SAFETY),
        CallState(node="_language", silences=MAX_SILENCES + 1),
    ]:
        assert state_from_query(LINE, state_to_query(state)) == state


SERIES_FIRST = TREE.topic_sections("categories")[0]  # followed by the next section: no end of its own


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"n": "nope"},
        {"n": "muscle_types"},  # a menu that no longer exists
        {"n": "categories"},  # a series is entered, never a place to be
        {"n": "symptoms", "p": "9"},
        {"n": "symptoms", "p": str(TREE.part_count("symptoms") + 1)},  # past the topic's end
        {"n": SERIES_FIRST, "p": str(TREE.part_count(SERIES_FIRST))},
        {"n": "main", "r": "3"},
        {"n": "main", "w": "7"},
        {"n": "main", "v": "zz"},
        {"n": "main", "v": "ffffffff"},
        {"n": "main", "f": "zz"},
        {"n": "main", "f": format(FLAGS + 1, "x")},
        {"n": "_emergency", "b": "nowhere"},
        {"n": "_emergency", "b": "categories"},
        {"n": "_emergency", "b": "causes", "bp": "9"},
        {"n": "_emergency", "bp": "1"},  # a part to go back to, but nowhere
        {"n": "_emergency", "b": "_language", "bp": "1"},
        {"n": "_nothing"},
        {"n": "main", "p": "1"},
        {"n": "main", "s": "9"},
        {"n": "main", "m": "-1"},
        {"n": "main", "m": str(MAX_MISSES + 2)},
        {"n": "main", "p": "1e3"},
        {"n": "main", "l": "fr"},
    ],
)
def test_invalid_states_are_rejected(query: dict[str, str]) -> None:
    assert state_from_query(LINE, query) is None


def test_a_new_caller_hears_the_emergency_sentence_then_the_language_menu_in_every_language() -> None:
    step = start(LINE)
    en, hi = LINE.prompts("en").phrases, LINE.prompts("hi").phrases
    assert step.kind is Kind.GATHER and step.state.node == "_language"
    assert step.state.flags == SAFETY  # no language chosen yet; the emergency sentence said
    assert step.say == (
        en.safety.format(number="1 1 2"),
        hi.safety.format(number="1 1 2"),
        en.choose_language.format(key=1),
        hi.choose_language.format(key=2),
        en.language_by_name,
        hi.language_by_name,
    )
    assert step.lang_of == ("en", "hi", "en", "hi", "en", "hi")


def _options(lang: str, menu: str) -> list[str]:
    p = LINE.prompts(lang)
    return [
        p.phrases.option.format(label=o.label[lang], key=p.key_names.get(o.key, o.key))
        for o in TREE.menus[menu].options
    ]


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_start_in_a_known_language_says_welcome_safety_disclaimer_options_then_the_first_call_keys(
    lang: str,
) -> None:
    p = LINE.prompts(lang)
    step = start(LINE, lang)
    assert step.kind is Kind.GATHER
    assert step.state.node == "main" and step.state.part == 0 and step.state.rate == "normal"
    assert step.state.flags == CHOSEN | GREETED | SAFETY
    keys = [
        p.phrases.help_line.format(action=p.actions.operator, key=p.key_names.get("0", "0")),
        p.phrases.help_line.format(action=p.actions.help, key=p.key_names.get("6", "6")),
    ]
    assert list(step.say) == [
        p.phrases.welcome,
        p.phrases.safety.format(number="1 1 2"),
        p.phrases.disclaimer,
        *_options(lang, "main"),
        p.phrases.speech_hint,
        *keys,
    ]
    assert step.lang_of == ()  # all of it in the caller's language


def test_a_returning_caller_hears_welcome_back_and_the_safety_sentence_but_not_the_keys() -> None:
    p = LINE.prompts("en").phrases
    step = start(LINE, "en", returning=True)
    assert list(step.say) == [
        p.welcome_back,
        p.safety.format(number="1 1 2"),
        p.disclaimer,
        *_options("en", "main"),
        p.speech_hint,
    ]


def test_engine_is_pure_and_repeatable() -> None:
    state = CallState(node="main", flags=IN_CALL)
    a = next_step(LINE, state, CallerInput(digits="2"))
    b = next_step(LINE, state, CallerInput(digits="2"))
    assert a == b
    assert a.state.node == "treatment"


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_engine_and_everything_it_imports_stay_free_of_flask() -> None:
    # Read from the source, not by importing: `ivr/__init__.py` (the app factory) imports Flask,
    # and Python runs a package's __init__ before any of its modules.
    import ast
    import importlib.util

    todo, seen = ["ivr.engine"], set()
    while todo:
        name = todo.pop()
        seen.add(name)
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(open(spec.origin, encoding="utf-8").read())  # noqa: SIM115
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                names = [n for n in names if not n.startswith("ivr") or _is_module(n)]
            for imported in names:
                assert not imported.startswith(("flask", "werkzeug")), f"{name} imports {imported}"
                if imported.startswith("ivr") and imported not in seen and imported != "ivr":
                    todo.append(imported)
    engine_modules = {
        f"ivr.engine.{m}"
        for m in ("model", "codec", "wording", "understanding", "talk", "moves", "people", "flow", "catalog")
    }
    assert {"ivr.engine", "ivr.speech", "ivr.content.models", *engine_modules} <= seen


def test_importing_the_engine_loads_no_flask_when_the_app_package_is_left_out() -> None:
    # The same, at run time, third-party imports included: `ivr` is stood in for by a bare package
    # (so that its app factory is not run), then the engine is imported and used.
    code = (
        "import sys, types\n"
        f"package = types.ModuleType('ivr'); package.__path__ = [{str(REPO_ROOT / 'ivr')!r}]\n"
        "sys.modules['ivr'] = package\n"
        "from ivr.config import REPO_ROOT\n"
        "from ivr.content import load_content\n"
        "from ivr.engine import CallerInput, Line, next_step, start\n"
        "line = Line(content=load_content(REPO_ROOT))\n"
        "next_step(line, start(line, 'en').state, CallerInput(digits='1'))\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug', 'jinja2'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_operator_transfer_when_configured() -> None:
    line = Line(content=LINE.content, operator_number="+15550001")
    step = next_step(line, CallState(node="causes", part=1, flags=IN_CALL), CallerInput(digits="0"))
    assert step.kind is Kind.TRANSFER and step.number == "+15550001"
    assert step.say == (LINE.prompts("en").phrases.connecting,)
    assert step.state.node == "causes" and step.state.part == 1


def _routed_line() -> Line:
    """The real content with every specialist reachable, so that the clock could matter."""
    from tests.test_routing import routed_app

    line: Line = routed_app(IN_HOURS_UTC).extensions["ivr"].line
    return line


IN_HOURS_UTC = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)  # 11:00 in Kolkata, a Wednesday
CLOSED_UTC = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 20:00 in Kolkata: the specialists have gone


CALLERS = (SAFETY, IN_CALL | HINTED, IN_CALL | HELP_MORE | RESUME)  # before choosing; in a call; after help


def _states(line: Line, flags: int) -> list[CallState]:
    """Every place (a topic's end too; a system node coming from the main menu), in every language,
    with and without a miss."""
    tree = line.content.tree
    nodes = [*tree.nodes(), *SYSTEM_NODES]
    return [
        CallState(
            node=n,
            part=part,
            lang=lang,
            misses=misses,
            ret="" if n not in SYSTEM_NODES else tree.root,
            flags=flags,
        )
        for n in nodes
        for part in range(last_part(line, n) + 1)
        for lang in line.content.languages
        for misses in (0, 1)
    ]


@pytest.mark.parametrize("flags", CALLERS, ids=["new", "in-call", "after-help"])
def test_keeping_steps_never_changes_what_a_caller_hears_in_or_out_of_hours(flags: int) -> None:
    line = _routed_line()
    fresh = replace(line, _steps={}, _hints={})
    states = _states(line, flags)
    assert len(states) * 12 < STEP_CACHE_SIZE, "the walk below must fit in the cache to count it"
    line._steps.clear()  # the app kept its error reply's step at start-up
    for state in states:
        for digits in [*"0123456789*#", ""]:
            for now in (IN_HOURS_UTC, CLOSED_UTC):
                inp = CallerInput(digits=digits, silent=not digits, now=now)
                assert next_step(line, state, inp) == _next_step(fresh, state, inp), (state, digits, now)
    kept = len(line._steps)
    assert kept == len(states) * 12, "every key but 0, and silence, is worked out once"


def test_a_person_is_never_kept_the_answer_depends_on_the_hour() -> None:
    line = _routed_line()
    state = CallState(node="treatment", flags=IN_CALL)
    open_ = next_step(line, state, CallerInput(digits="0", now=IN_HOURS_UTC))
    closed = next_step(line, state, CallerInput(digits="0", now=CLOSED_UTC))
    assert open_.kind is Kind.TRANSFER and closed.kind is Kind.GATHER and closed.state.node == "_specialist"
    assert all(digits != "0" for _state, digits, _silent in line._steps)
