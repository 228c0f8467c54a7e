"""The pure engine and speech matcher, without Flask."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr import services, speech
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import (
    CHOSEN,
    CONFIRM,
    GREETED,
    SAFETY,
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
from ivr.engine.understanding import choices

pytestmark = pytest.mark.unit

LINE = Line(content=load_content(REPO_ROOT))
TREE = LINE.content.tree
NUMBERS = LINE.prompts("en").numbers
MAIN_PHRASES = sorted({p for ps in choices(LINE, CallState(node=TREE.root)).values() for p in ps})
IN_CALL = CHOSEN | GREETED | SAFETY  # a caller who chose a language and heard the welcome


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("four", "4"),
        ("press four", "4"),
        ("number 4", "4"),
        ("Four, please.", "4"),
        ("दो", "2"),
        ("दो दबाओ", "2"),
        ("symptoms", None),
        ("four and five", None),
        ("", None),
        ("   ", None),
    ],
)
def test_a_bare_number_said_is_a_key(utterance: str, expected: str | None) -> None:
    fillers = [*LINE.prompts("en").fillers, *LINE.prompts("hi").fillers]
    numbers = {d: [*NUMBERS.get(d, []), *LINE.prompts("hi").numbers.get(d, [])] for d in "0123456789"}  # type: ignore[call-overload]
    assert speech.spoken_digit(utterance, numbers, fillers) == expected


@pytest.mark.parametrize(
    ("devanagari", "latin"),
    [
        ("साँस नहीं आ रही", "saans nahi aa rahi"),
        ("ट्रीटमेंट", "treatment"),
        ("दवाइयों", "davaiyon"),
        ("लक्षण", "lakshan"),
        ("बेहोशी", "behoshi"),
        ("निगल नहीं पा रहे", "nigal nahi pa rahe"),
    ],
)
def test_hindi_in_either_script_is_heard_as_the_same_words(devanagari: str, latin: str) -> None:
    # A hi-IN recogniser writes Devanagari, an en-IN one Hinglish: the same caller, the same words.
    said, written = speech.tokens(devanagari), speech.tokens(latin)
    assert len(said) == len(written)
    assert all(speech.similar(a, b) for a, b in zip(said, written, strict=True))


def test_near_words_count_for_less_than_exact_ones_and_short_words_must_be_exact() -> None:
    assert speech.similar("symptoms", "symptoms") == 1.0
    assert speech.tokens("simptoms") == speech.tokens("symptoms")  # spellings folded: y is i
    assert 0.6 <= speech.similar(*speech.tokens("symtoms symptoms")) < 1.0  # a recogniser slip
    assert 0.6 <= speech.similar(*speech.tokens("ambulence ambulance")) < 1.0
    assert speech.similar("fit", "fat") == 0.0  # under four letters: exact or nothing
    assert speech.similar("treatment", "statement") == 0.0


def test_a_phrase_is_found_in_order_with_small_gaps_and_rarer_words_tell_more() -> None:
    lexicon = speech.Lexicon(
        {"causes": ["causes", "what causes it"], "treatment": ["treatment", "muscle treatment"],
         "weak": ["muscle weakness"]},
        stopwords=["the", "please", "what", "it"],
    )  # fmt: skip
    best = lexicon.hits("please tell me what causes it")[0]
    assert (best.result, best.phrase) == ("causes", "what causes it")
    # Both are said; the phrase that explains more of the words wins, and order matters.
    assert [h.result for h in lexicon.hits("the treatment of muscle weakness")] == ["weak", "treatment"]
    assert lexicon.hits("weakness of the muscle") == []
    assert "weak" not in {h.result for h in lexicon.hits("it causes nothing what")}
    weight = {w: lexicon.weight(speech.tokens(w)[0]) for w in ("muscle", "causes", "please", "zebra")}
    assert weight["muscle"] < weight["causes"]  # shared by two results
    assert weight["please"] < weight["zebra"] < weight["causes"]  # a stopword, an unknown word
    # A long phrase may miss its small words, but a short one must be said whole: "more time" is
    # not in "all the time".
    timed = speech.Lexicon({"more": ["more time"]}, stopwords=["more", "the", "all"])
    assert not timed.hits("all the time")


def test_word_forms_count_only_when_asked_for_and_only_for_longer_words() -> None:
    plain = speech.Lexicon({"b": ["breathless"]})
    forms = speech.Lexicon({"b": ["breathless"], "f": ["fit"]}, word_forms=True)
    assert not plain.hits("breathlessness")
    assert "b" in {h.result for h in forms.hits("breathlessness")}
    assert "f" not in {
        h.result for h in forms.hits("fitness")
    }  # "fit" is too short for its longer forms to count


VOCABULARY_WORDS = sorted({t for p in [*MAIN_PHRASES] for t in speech.tokens(p)})


@given(
    st.sampled_from(VOCABULARY_WORDS), st.integers(0, 12), st.sampled_from("aeiknrstuvz"), st.integers(0, 2)
)
def test_the_rapidfuzz_scan_finds_every_near_word_the_definition_does(
    word: str, at: int, letter: str, how: int
) -> None:
    # Lexicon narrows the vocabulary with rapidfuzz's C scan before `similar` judges each word; the
    # plain definition judges every word. They must agree, for words heard a letter off.
    at = min(at, len(word))
    heard = [word[:at] + letter + word[at + 1 :], word[:at] + letter + word[at:], word[:at] + word[at + 1 :]][
        how
    ]
    lexicon = speech.Lexicon({"x": MAIN_PHRASES})
    by_definition = {k: speech.similar(heard, k) for k in VOCABULARY_WORDS if speech.similar(heard, k)}
    assert lexicon._near(heard) == by_definition


@given(st.sampled_from(VOCABULARY_WORDS), st.text("aeinrstyआईकेनरसा्", max_size=7), st.integers(0, 3))
def test_word_forms_are_found_by_prefix_lookup_as_by_scanning_the_vocabulary(
    word: str, ending: str, cut: int
) -> None:
    # Longer forms are looked up by the heard word's own prefixes, not a scan of the vocabulary; the
    # definition (any vocabulary word of PREFIX_MIN letters or more the heard word starts with, at most
    # 5 letters shorter) must give the same words, exact or nearly heard, in the same order.
    heard = word[: max(1, len(word) - cut)] + speech.loose_word(ending) if ending else word
    lexicon = speech.Lexicon({"x": MAIN_PHRASES}, word_forms=True)
    plain = speech.Lexicon({"x": MAIN_PHRASES})
    prefixes = [
        k
        for k in VOCABULARY_WORDS
        if len(k) >= speech.PREFIX_MIN and heard.startswith(k) and len(heard) - len(k) <= 5
    ]
    by_definition = {heard: 1.0} if heard in VOCABULARY_WORDS else {}
    for known in prefixes:
        by_definition.setdefault(known, 0.9)
    for known, sim in plain._near(heard).items():
        by_definition.setdefault(known, sim)
    assert list(lexicon._near(heard).items()) == list(by_definition.items())


MAIN_STATE = CallState(node=TREE.root, flags=IN_CALL)


def test_the_main_menu_listens_for_the_places_below_it_by_name() -> None:
    # "symptoms" at the main menu goes straight to the topic, past the menu of symptoms and causes;
    # a section of the series of types is named by its own words.
    heard = choices(LINE, MAIN_STATE)
    assert {"goto:symptoms", "goto:causes", "goto:drug_therapy", "goto:specialists"} <= set(heard)
    assert {f"goto:{s}" for s in TREE.topic_sections("categories")} <= set(heard)
    step = next_step(LINE, MAIN_STATE, CallerInput(speech="tell me about muscular dystrophy"))
    assert (step.state.node, step.state.part) == ("muscular_dystrophies", 0)
    assert step.say[0] == TREE.section("muscular_dystrophies", "en").title


@given(
    st.lists(
        st.sampled_from([*VOCABULARY_WORDS, "please", "um", "the", "two", "9", "zebra", "दो"]), max_size=8
    )
)
def test_whatever_is_said_at_the_main_menu_the_line_answers(words: list[str]) -> None:
    step = next_step(LINE, MAIN_STATE, CallerInput(speech=" ".join(words) or "zebra"))
    assert step.event and (step.say or step.number or step.queue)


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


def test_importing_and_running_the_engine_loads_no_web_framework_database_or_rest_client() -> None:
    # At run time, third-party imports included, in a fresh interpreter: the package root is light,
    # so `import ivr.engine` runs no app factory.
    code = (
        "import sys\n"
        "from ivr.config import REPO_ROOT\n"
        "from ivr.content import load_content\n"
        "from ivr.engine import CallerInput, Line, next_step, start\n"
        "line = Line(content=load_content(REPO_ROOT))\n"
        "next_step(line, start(line, 'en').state, CallerInput(speech='my legs are weak'))\n"
        "heavy = ('flask', 'werkzeug', 'jinja2', 'sqlalchemy', 'alembic', 'psycopg', 'redis')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('twilio.rest'))\n"
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
    from tests.support.routing import routed_app

    line: Line = services.line(routed_app(IN_HOURS_UTC))
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


@pytest.mark.integration
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
    # "Did you mean ...?" is never kept: yes may be a person, and that depends on the hour.
    asked = sum(1 for s in states if s.node == CONFIRM)
    assert kept == (len(states) - asked) * 12, "every key but 0, and silence, is worked out once"


@pytest.mark.integration
def test_a_person_is_never_kept_the_answer_depends_on_the_hour() -> None:
    line = _routed_line()
    state = CallState(node="treatment", flags=IN_CALL)
    open_ = next_step(line, state, CallerInput(digits="0", now=IN_HOURS_UTC))
    closed = next_step(line, state, CallerInput(digits="0", now=CLOSED_UTC))
    assert open_.kind is Kind.TRANSFER and closed.kind is Kind.GATHER and closed.state.node == "_specialist"
    assert all(digits != "0" for _state, digits, _silent, _reviews in line._steps)
