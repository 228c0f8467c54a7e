"""The pure engine and speech matcher, without Flask."""

from __future__ import annotations

import pytest

from ivr import speech
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import CallerInput, CallState, Kind, Line, next_step, start, state_from_query, state_to_query

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
