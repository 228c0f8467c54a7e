"""The pure engine and speech matcher, without Flask."""

from __future__ import annotations

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
    SPEECH_ACTIONS,
    SYSTEM_NODES,
    CallerInput,
    CallState,
    Kind,
    Line,
    _matcher,
    _next_step,
    next_step,
    start,
    state_from_query,
    state_to_query,
)

LINE = Line(content=load_content(REPO_ROOT))
NUMBERS = LINE.prompts("en").numbers


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


MAIN_STATE = CallState(node="main")
MAIN_WORDS = sorted(
    {w for phrases in _matcher(LINE, MAIN_STATE)._by_first.values() for t, _, _ in phrases for w in t}
)


@given(st.lists(st.sampled_from([*MAIN_WORDS, "please", "um", "the", "two", "9", "zebra"]), max_size=8))
def test_the_matcher_agrees_with_the_rule_at_the_main_menu(words: list[str]) -> None:
    p = LINE.prompts("en")
    choices = _choices_for_test(MAIN_STATE)
    utterance = " ".join(words)
    expected = _match_by_definition(utterance, choices, p.numbers, tuple(p.fillers))
    assert speech.Matcher(choices, p.numbers, p.fillers).match(utterance) == expected
    assert next_step(LINE, MAIN_STATE, CallerInput(speech=utterance or "zebra")).event  # and the engine copes


def _choices_for_test(state: CallState) -> dict[str, list[str]]:
    """Every phrase the main menu listens for, as the engine gathers them."""
    p = LINE.prompts(state.lang)
    choices: dict[str, list[str]] = {f"action:{a}": list(getattr(p.speech, a)) for a in SPEECH_ACTIONS}
    choices["lang:hi"] = list(LINE.prompts("hi").name)
    for option in LINE.content.tree.menus[state.node].options:
        choices[f"key:{option.key}"] = [option.label["en"], *option.say.get("en", [])]
    return choices


def test_normalise_folds_case_punctuation_and_width() -> None:
    assert speech.normalise("  Ｓymptoms?!  Please ") == "symptoms please"


def test_state_round_trips_through_the_url() -> None:
    for state in [
        CallState(node="symptoms", part=2, silences=1, misses=1, lang="en"),
        CallState(node="main", rate="slow", patience=2, visited=0b101),
        CallState(node="_emergency", ret="causes", rate="fast"),
    ]:
        assert state_from_query(LINE, state_to_query(state)) == state


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"n": "nope"},
        {"n": "symptoms", "p": "9"},
        {"n": "main", "r": "3"},
        {"n": "main", "w": "7"},
        {"n": "main", "v": "zz"},
        {"n": "main", "v": "ffffffff"},
        {"n": "_emergency", "b": "nowhere"},
        {"n": "_nothing"},
        {"n": "main", "p": "1"},
        {"n": "main", "s": "9"},
        {"n": "main", "m": "-1"},
        {"n": "main", "p": "1e3"},
        {"n": "main", "l": "fr"},
    ],
)
def test_invalid_states_are_rejected(query: dict[str, str]) -> None:
    assert state_from_query(LINE, query) is None


def test_a_new_caller_starts_at_the_language_menu() -> None:
    step = start(LINE)
    assert step.state.node == "_language"
    assert step.lang_of == ("en", "hi")


def test_start_in_a_known_language_says_welcome_then_main_menu() -> None:
    step = start(LINE, "en")
    assert step.kind is Kind.GATHER
    assert step.state.node == "main" and step.state.part == 0 and step.state.rate == "normal"
    assert step.say[0] == LINE.prompts("en").phrases.welcome


def test_engine_is_pure_and_repeatable() -> None:
    state = CallState(node="main")
    a = next_step(LINE, state, CallerInput(digits="2"))
    b = next_step(LINE, state, CallerInput(digits="2"))
    assert a == b
    assert a.state.node == "symptoms_causes"


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_engine_and_everything_it_imports_stay_free_of_flask() -> None:
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
    assert {"ivr.engine", "ivr.speech", "ivr.content.models"} <= seen


def test_operator_transfer_when_configured() -> None:
    line = Line(content=LINE.content, operator_number="+15550001")
    step = next_step(line, CallState(node="causes", part=1), CallerInput(digits="0"))
    assert step.kind is Kind.TRANSFER and step.number == "+15550001"
    assert step.state.node == "causes" and step.state.part == 1


def _routed_line() -> Line:
    """The real content with every specialist reachable, so that the clock could matter."""
    from tests.test_routing import routed_app

    line: Line = routed_app(IN_HOURS_UTC).extensions["ivr"].line
    return line


IN_HOURS_UTC = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)  # 11:00 in Kolkata, a Wednesday
CLOSED_UTC = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 20:00 in Kolkata: the specialists have gone


def _states(line: Line) -> list[CallState]:
    tree = line.content.tree
    nodes = [*tree.menus, *tree.sections, *SYSTEM_NODES]
    return [
        CallState(node=n, part=part, lang=lang, misses=misses, ret="" if n not in SYSTEM_NODES else tree.root)
        for n in nodes
        for part in range(tree.part_count(n))
        for lang in line.content.languages
        for misses in (0, 1)
    ]


def test_keeping_steps_never_changes_what_a_caller_hears_in_or_out_of_hours() -> None:
    line = _routed_line()
    fresh = replace(line, _steps={}, _hints={})
    for state in _states(line):
        for digits in [*"0123456789*#", ""]:
            for now in (IN_HOURS_UTC, CLOSED_UTC):
                inp = CallerInput(digits=digits, silent=not digits, now=now)
                assert next_step(line, state, inp) == _next_step(fresh, state, inp), (state, digits, now)
    kept = len(line._steps)
    assert kept == len(_states(line)) * 12, "every key but 0, and silence, is worked out once"


def test_a_person_is_never_kept_the_answer_depends_on_the_hour() -> None:
    line = _routed_line()
    state = CallState(node="treatment")
    open_ = next_step(line, state, CallerInput(digits="0", now=IN_HOURS_UTC))
    closed = next_step(line, state, CallerInput(digits="0", now=CLOSED_UTC))
    assert open_.kind is Kind.TRANSFER and closed.kind is Kind.GATHER and closed.state.node == "_specialist"
    assert all(digits != "0" for _state, digits, _silent in line._steps)
