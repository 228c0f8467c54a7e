"""Speech in a loop: a reply spoken by TTS, recognised offline by pocketsphinx, drives the line."""

from __future__ import annotations

import time
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from ivr import engine, services
from ivr.audio import tts
from ivr.engine import CallerInput, CallState, Line
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.simulator.asr import (
    CALLER_VOICE,
    MODEL_RATE,
    Recogniser,
    espeak_phones,
    pcm16k,
    phrases_from_hints,
    words,
)
from tests.support.app import AUTH_TOKEN, BASE_URL, OPERATOR, make_app
from tests.support.content import english_only_copy
from tests.support.twiml import query

pytestmark = pytest.mark.integration

MIN_ROUTED = 0.8  # measured 0.88 over the 156 phrases the main menu accepts, with the klatt voice


@pytest.fixture(scope="module")
def recogniser() -> Recogniser:
    return Recogniser()


@pytest.fixture(scope="module")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The caller's reply rendered by pyttsx3 on espeak-ng (22050 Hz), once per phrase."""
    folder = tmp_path_factory.mktemp("replies")

    def render(text: str) -> Path:
        path = folder / f"{'_'.join(words(text))}.wav"
        if not path.exists():
            tts.synthesize(text, path, voice=CALLER_VOICE)
        return path

    return render


def phone(app: Flask) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)


def line_of(app: Flask) -> Line:
    line: Line = services.line(app)
    return line


def node_of(turn: Turn) -> str:
    assert turn.gather is not None, turn.says
    return query(turn.gather.get("action", ""))["n"]


def content_phrases(app: Flask, node: str) -> list[str]:
    """What the caller may say at a node, from the content (options and reserved words)."""
    return list(engine.hints(line_of(app), CallState(node=node)))


def test_replies_are_resampled_to_what_the_model_needs(speak: Callable[[str], Path]) -> None:
    source = speak("symptoms")
    with wave.open(str(source)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 1, 2)
    pcm = pcm16k(source)
    seconds = len(pcm) / 2 / MODEL_RATE
    # Trimmed of espeak's trailing pause, padded by 0.1 s each side: shorter than the source.
    assert 0.4 < seconds < tts.wav_seconds(source)


def test_the_grammar_is_the_menus_words_from_the_content(recogniser: Recogniser, en_app: AppMaker) -> None:
    app = en_app()
    root = line_of(app).content.tree.root
    wanted = {" ".join(words(p)) for p in content_phrases(app, root)} - {""}
    grammar = recogniser.grammar(content_phrases(app, root))
    assert set(grammar.phrases) | set(grammar.dropped) == wanted
    assert not grammar.dropped  # every word is in the dictionary or pronounced by espeak-ng
    assert f"public <reply> = {' | '.join(grammar.phrases)};" in grammar.jsgf()
    # Words the dictionary lacks get espeak-ng's pronunciation, in the model's phones.
    assert espeak_phones("neuromuscular") == "N UH R AH M AH S K Y UH L ER"
    assert espeak_phones("operator") == "AA P ER EY T ER"  # the dictionary's own entry, exactly
    # The same phrases reach Twilio as the Gather's hints, which is where --hear gets them.
    gather = phone(app).dial().gather
    assert gather is not None
    hinted = set(phrases_from_hints(gather.get("hints", "")))
    # Twilio splits hints at commas, so a label with a comma arrives as its pieces.
    with_commas = {" ".join(words(p)) for p in content_phrases(app, root) if "," in p}
    assert set(grammar.phrases) - with_commas <= hinted


AppMaker = Callable[..., Flask]


@pytest.fixture(scope="module")
def en_app(tmp_path_factory: pytest.TempPathFactory) -> AppMaker:
    """Apps on the real content in English alone: the offline recogniser's model is English."""
    root = english_only_copy(tmp_path_factory.mktemp("english-only"))
    return lambda **overrides: make_app(**{"CONTENT_DIR": str(root), **overrides})


def go(app: Flask, path: list[str]) -> tuple[Phone, Turn]:
    caller = phone(app)
    turn = caller.dial()
    for key in path:
        turn = caller.press(key)
    return caller, turn


def submenu(app: Flask) -> tuple[str, str]:
    tree = line_of(app).content.tree
    option = next(o for o in tree.menus[tree.root].options if o.goto in tree.menus)
    return option.key, option.goto


@pytest.mark.parametrize(
    ("spoken", "from_submenu"),
    [("symptoms", False), ("causes", False), ("go back", True), ("main menu", True), ("operator", False)],
)
def test_a_spoken_reply_recognised_offline_takes_the_caller_where_the_words_lead(
    recogniser: Recogniser, speak: Callable[[str], Path], spoken: str, from_submenu: bool, en_app: AppMaker
) -> None:
    app = en_app(OPERATOR_NUMBER=OPERATOR)
    key, menu = submenu(app)
    caller, turn = go(app, [key] if from_submenu else [])
    here = node_of(turn)
    assert turn.gather is not None
    hints = phrases_from_hints(turn.gather.get("hints", ""))
    heard = recogniser.hear(speak(spoken), hints)
    # A near word of the same choice ("symptom") is as good: where it leads is checked below.
    assert heard.complete and heard.text in hints and 0 < heard.confidence <= 1
    after = caller.say(heard.text, heard.confidence)

    # Where the typed words go, the recognised speech must go too: same node, same sentences.
    typed_caller, _ = go(app, [key] if from_submenu else [])
    typed = typed_caller.say(spoken)
    assert after.says == typed.says and after.dialed == typed.dialed
    root = line_of(app).content.tree.root
    if spoken == "operator":
        assert after.dialed == [OPERATOR]
    elif spoken in ("go back", "main menu"):
        assert here == menu and node_of(after) == root
    else:
        assert node_of(after) not in (here, root)
        assert after.says[0].rstrip(".").lower() == spoken  # the topic's title


@pytest.mark.slow
def test_recognition_accuracy_over_every_phrase_of_the_main_menu(
    recogniser: Recogniser,
    speak: Callable[[str], Path],
    record_property: Callable[[str, object], None],
    en_app: AppMaker,
) -> None:
    app = en_app()
    line = line_of(app)
    state = CallState(node=line.content.tree.root)
    phrases = content_phrases(app, state.node)
    grammar = recogniser.grammar(phrases)
    started = time.monotonic()
    exact = routed = 0
    misses: list[tuple[str, str]] = []
    for phrase in grammar.phrases:
        heard = recogniser.hear(speak(phrase), phrases)
        want = engine.next_step(line, state, CallerInput(speech=phrase))
        got = engine.next_step(line, state, CallerInput(speech=heard.text)) if heard.text else None
        exact += heard.text == phrase
        if got is not None and (got.event, got.state.node) == (want.event, want.state.node):
            routed += 1
        else:
            misses.append((phrase, heard.text))
    total = len(grammar.phrases)
    record_property("exact", f"{exact}/{total}")
    record_property("routed", f"{routed}/{total}")
    print(
        f"\nrecognised exactly {exact}/{total}, routed right {routed}/{total}"
        f" in {time.monotonic() - started:.1f} s; misses: {misses}"
    )
    assert total >= 30
    assert routed / total >= MIN_ROUTED, misses


def test_silence_is_not_recognised_as_a_reply(
    recogniser: Recogniser, tmp_path: Path, en_app: AppMaker
) -> None:
    quiet = tmp_path / "silence.wav"
    with wave.open(str(quiet), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(b"\0\0" * 22050)
    app = en_app()
    heard = recogniser.hear(quiet, content_phrases(app, line_of(app).content.tree.root))
    assert not heard.complete


def test_the_call_command_can_hear_the_callers_words_offline(tmp_path: Path, en_app: AppMaker) -> None:
    app = en_app(AUDIO_DIR=str(tmp_path), AUDIO_BASE_URL=None)
    key, menu = submenu(app)
    root = line_of(app).content.tree.root
    result = app.test_cli_runner().invoke(args=["call", "--hear", "--quiet", "--keys", f"{key},say:go back"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    said = next(i for i, line in enumerate(lines) if line.startswith('> say "go back"'))
    assert lines[said].startswith('> say "go back" -> heard "go back" (0.')
    assert lines[said - 1] == f"  . at {menu}"
    assert lines[said + 1 :][-2] == f"  . at {root}"
