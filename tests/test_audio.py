"""Offline audio: pyttsx3 on espeak-ng renders, the cache, `flask audio render`, and <Play> in TwiML."""

from __future__ import annotations

import re
import shutil
import string
import subprocess
import sys
import wave
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from ivr import config, engine
from ivr.audio import cache, tts
from ivr.audio.cache import AudioSettings, Report
from ivr.audio.catalog import AGREED, PHRASES, fixed_phrase_names, sentences
from ivr.audio.catalog import DIRECTORY as FROM_DIRECTORY
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.directory import Directory
from ivr.content.models import RESERVED_KEYS, Prompts
from ivr.content.tree import fill
from ivr.engine import CHOSEN, GREETED, LANGUAGE, RATES, SAFETY, CallerInput, CallState, Line
from ivr.engine.codec import last_part
from ivr.engine.model import FLAGS, HELP_MORE, HINTED, MAX_MISSES, RESUME, TRANSIENT
from ivr.engine.wording import END_KEYS, FIRST_CALL_KEYS, TOPIC_KEYS, consent_given, consent_prompt
from ivr.lexicon import spoken_form
from ivr.simulator import Phone
from tests.support.app import OPERATOR, SignedClient, answer, make_app
from tests.support.twiml import gather

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
PROMPTS = CONTENT.prompts["en"]
TREE = CONTENT.tree
BASE = "https://audio.example.test"
RATE = 150
NORMAL = ("normal",)  # the whole line is rendered at the normal rate only, to keep the suite quick


def spoken(text: str) -> str:
    """A sentence as the renderer hands it to the voice: lexicon applied."""
    return spoken_form(text, PROMPTS.lexicon)


def part(node: str, index: int) -> str:
    return TREE.section(node, "en").parts[index]


def state_path(state: CallState) -> str:
    return "/voice/step?" + "&".join(f"{k}={v}" for k, v in engine.state_to_query(state).items())


def audio_app(settings: AudioSettings, **overrides: Any) -> Flask:
    """An app whose audio settings are exactly `settings`, whatever the environment says."""
    return make_app(
        AUDIO_DIR=str(settings.audio_dir),
        TTS_RATE=settings.rate,
        TTS_VOICE=settings.voice,
        **{"AUDIO_BASE_URL": None, **overrides},
    )


def speech_seconds(path: Path) -> float:
    """Seconds from the first to the last sample louder than silence: what a caller hears as speech."""
    with wave.open(str(path), "rb") as wav:
        samples = array("h", wav.readframes(wav.getnframes()))
        rate = wav.getframerate()
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [i for i, sample in enumerate(samples) if abs(sample) >= tts.MIN_PEAK]
    return (loud[-1] - loud[0] + 1) / rate if loud else 0.0


def espeak_seconds(text: str, out: Path, rate: int, voice: str | None) -> float:
    """Render with the espeak-ng command line directly, for comparison."""
    subprocess.run(
        ["espeak-ng", *(["-v", voice] if voice else []), "-s", str(rate), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    return tts.wav_seconds(out)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[AudioSettings, Report]:
    """Every fixed sentence of the real content, rendered once for this module."""
    settings = AudioSettings(tmp_path_factory.mktemp("audio-cache"), rate=RATE)
    return settings, cache.render_all(CONTENT, settings, rates=NORMAL)


# --- synthesis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate", "voice"),
    [
        (PROMPTS.phrases.welcome, 150, None),
        # long, with digits: pyttsx3 used to return early
        (PROMPTS.phrases.emergency_advice.format(number=Line(content=CONTENT).said_number()), 150, None),
        (part("about", 0), 175, "en-us"),
        (TREE.menus["main"].title["en"], 220, "en-gb"),
    ],
)
def test_synthesize_matches_a_direct_espeak_ng_render(
    tmp_path: Path, text: str, rate: int, voice: str | None
) -> None:
    out = tmp_path / "out.wav"
    seconds = tts.synthesize(text, out, rate=rate, voice=voice)
    espeak_seconds(text, tmp_path / "direct.wav", rate, voice)
    assert seconds == pytest.approx(tts.wav_seconds(out))
    # The speech itself, first sound to last: nothing cut off and nothing from another utterance.
    # (The silence after it has once come out 0.1 s longer than espeak-ng's own, in a full run.)
    ours, direct = speech_seconds(out), speech_seconds(tmp_path / "direct.wav")
    assert abs(ours - direct) <= 0.10 * direct, (ours, direct, seconds)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.wav", "out.wav"]  # no leftovers


def test_a_faster_rate_gives_shorter_audio(tmp_path: Path) -> None:
    text = PROMPTS.phrases.disclaimer
    tts.synthesize(text, tmp_path / "slow.wav", rate=120)
    tts.synthesize(text, tmp_path / "fast.wav", rate=240)
    slow, fast = speech_seconds(tmp_path / "slow.wav"), speech_seconds(tmp_path / "fast.wav")
    assert fast < 0.7 * slow, (fast, slow)


def test_an_unknown_voice_is_a_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no-such-voice"):
        tts.synthesize("Hello.", tmp_path / "x.wav", voice="no-such-voice")
    assert list(tmp_path.iterdir()) == []


def _write_wav(path: Path, frames: bytes, rate: int = 22050) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)


def _frames(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def test_check_wav_rejects_what_a_broken_engine_produces(tmp_path: Path) -> None:
    short, long = TREE.menus["main"].title["en"], part("about", 0)
    good = tmp_path / "good.wav"
    tts.synthesize(short, good, rate=RATE)
    assert tts.check_wav(good, short, RATE) == pytest.approx(tts.wav_seconds(good))

    missing = tmp_path / "missing.wav"
    with pytest.raises(tts.TtsError, match="no audio"):
        tts.check_wav(missing, short, RATE)
    header_only = tmp_path / "empty.wav"
    _write_wav(header_only, b"")
    with pytest.raises(tts.TtsError, match="no audio"):
        tts.check_wav(header_only, short, RATE)
    not_riff = tmp_path / "text.wav"
    not_riff.write_bytes(b"ID3" + bytes(4000))
    with pytest.raises(tts.TtsError, match="RIFF"):
        tts.check_wav(not_riff, short, RATE)
    silent = tmp_path / "silent.wav"
    _write_wav(silent, bytes(2 * 22050))
    with pytest.raises(tts.TtsError, match="silent"):
        tts.check_wav(silent, short, RATE)
    # Another utterance's audio in this file: far too long for the words.
    other = tmp_path / "other.wav"
    tts.synthesize(long, other, rate=RATE)
    leaked = tmp_path / "leaked.wav"
    _write_wav(leaked, _frames(other) + _frames(good))
    with pytest.raises(tts.TtsError, match="implausible"):
        tts.check_wav(leaked, short, RATE)
    # Cut off early: far too short for the words.
    cut = tmp_path / "cut.wav"
    _write_wav(cut, _frames(other)[: len(_frames(other)) // 8])
    with pytest.raises(tts.TtsError, match="implausible"):
        tts.check_wav(cut, long, RATE)


# --- the catalog ------------------------------------------------------------------------------


assert CONTENT.directory is not None
DIRECTORY = Directory(CONTENT.directory, {"helpdesk": OPERATOR, "neurologist": OPERATOR})
LINES = [
    Line(content=CONTENT),
    Line(
        content=CONTENT,
        operator_number=OPERATOR,
        emergency_number="999",
        emergency_transfer=OPERATOR,
        directory=DIRECTORY,
    ),
]
IN_CALL = CHOSEN | GREETED | SAFETY  # a caller who chose a language and heard the welcome
# Every combination of the flags that last a call (the language chosen, the welcome, the emergency
# sentence and the keys of a topic said), and of those about the last reply only (help or "more
# time" said nothing of here; help's first page was said). The engine clears the second kind
# before anything but a silence or help (ivr.engine.model.TRANSIENT).
LASTING = [f for f in range(FLAGS + 1) if not f & TRANSIENT]
PENDING = [RESUME, HELP_MORE, RESUME | HELP_MORE]
# The flags a call really has: before a language is chosen, after, and after a topic's first part.
CALLS = [SAFETY, IN_CALL, IN_CALL | HINTED]
CLOSED = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 20:00 in India: the specialists have gone home
HOLIDAY = datetime(2027, 1, 26, 6, 0, tzinfo=UTC)  # Republic Day, 11:30 in India


def _inputs(line: Line, lang: str) -> list[CallerInput]:
    """Everything a caller can do, and everything that can come back from outside the call."""
    p = line.prompts(lang)
    inputs = [CallerInput(digits=d) for d in [*"12345678", *RESERVED_KEYS]]
    inputs += [CallerInput(digits="0", now=when) for when in (CLOSED, HOLIDAY)]
    inputs += [CallerInput(silent=True), CallerInput(speech="xyzzy plugh")]
    inputs += [CallerInput(speech=getattr(p.speech, a)[0]) for a in engine.SPEECH_ACTIONS]
    inputs += [CallerInput(speech=line.prompts(other).name[0]) for other in line.content.languages]
    inputs += [CallerInput(dial_status=s) for s in ("completed", "busy", "no-answer", "failed")]
    inputs += [CallerInput(outcome=("sms", r)) for r in ("sent", "saved", "no_number", "failed")]
    inputs += [CallerInput(outcome=("callback", r), detail="1234") for r in ("saved", "no_number", "failed")]
    inputs += [CallerInput(outcome=("record", r)) for r in ("saved", "empty", "failed")]
    return inputs


def _walk(line: Line) -> Iterator[tuple[CallState, list[CallerInput]]]:
    """Each state with what to try there: every place (a topic's end too) in every language, varied
    one way at a time along everything else a state carries that changes what is said."""
    tree = line.content.tree
    stops = [(node, part) for node in tree.nodes() for part in range(last_part(line, node) + 1)]
    # A system node goes back to where the caller was: anywhere, or the start of the call.
    returns = [("", 0), (LANGUAGE, 0), *stops]
    places = [CallState(node, part) for node, part in stops]
    places += [CallState(node, ret=ret, ret_part=at) for node in engine.SYSTEM_NODES for ret, at in returns]
    # The offer to carry on, of each section a returning caller may have stopped in.
    places += [CallState(engine.CARRY_ON, ret=section) for section in tree.sections]
    near = [
        s for s in places if s.node not in (*engine.SYSTEM_NODES, engine.CARRY_ON) or s.ret in ("", tree.root)
    ]
    every_menu = (1 << len(tree.menus)) - 1
    for lang in line.content.languages:
        everything = _inputs(line, lang)
        # What reads a flag about the last reply: a silence (RESUME) and help (HELP_MORE).
        pending = [CallerInput(silent=True), CallerInput(digits="6")]
        pending += [CallerInput(speech=w) for w in line.prompts(lang).speech.help]
        for place in places:
            here = replace(place, lang=lang)
            if place not in near:  # every way back from a system node, in a real call
                for flags in CALLS:
                    yield replace(here, flags=flags), everything
                continue
            for flags in LASTING:
                yield replace(here, flags=flags), everything
                for flag in PENDING:
                    yield replace(here, flags=flags | flag), pending
                for silences in range(1, engine.MAX_SILENCES + 2):
                    yield replace(here, silences=silences, flags=flags), [CallerInput(silent=True)]
            for flags in CALLS:
                for rate in engine.RATES[1:]:  # the normal speed is above
                    yield replace(here, rate=rate, flags=flags), everything
                    yield replace(here, rate=rate, flags=flags | HELP_MORE), pending
                yield replace(here, visited=every_menu, flags=flags), everything
                for misses in range(1, MAX_MISSES + 2):
                    yield replace(here, misses=misses, flags=flags), everything


def _engine_says(line: Line) -> set[tuple[str, str]]:
    """(sentence as spoken, language) for everything the engine says from every state and input."""
    said: set[tuple[str, str]] = set()

    def heard(step: engine.Step) -> None:
        for i, text in enumerate(step.say):
            lang = step.language_of(i)
            said.add((spoken_form(text, line.prompts(lang).lexicon), lang))

    for rate in engine.RATES:
        for lang in (None, *line.content.languages):
            heard(engine.start(line, lang, rate))
            heard(engine.start(line, lang, rate, returning=True))
            for section in line.content.tree.sections:
                heard(engine.start(line, lang, rate, returning=True, place=engine.Place(section, 0)))
    for state, inputs in _walk(line):
        for inp in inputs:
            heard(engine.next_step(line, state, inp))
    return said


def _pattern(template: str) -> re.Pattern[str]:
    """A phrase with each {placeholder} standing for any words."""
    pieces = [(re.escape(literal), field) for literal, field, _, _ in string.Formatter().parse(template)]
    return re.compile("".join(literal + (".+" if field is not None else "") for literal, field in pieces))


# The sentences that read back what the caller did, or their own phone number: not known ahead.
READ_BACKS = ("not_an_option", "callback_saved")  # the keys pressed; a number's last digits


@pytest.mark.slow
@pytest.mark.unit
@pytest.mark.parametrize("line", LINES, ids=["plain", "with-transfers"])
def test_the_catalog_holds_every_sentence_the_engine_can_say_except_read_backs(line: Line) -> None:
    catalog = {(s.text, s.lang) for s in sentences(line)}
    said = _engine_says(line)
    patterns = {
        (name, lang): _pattern(getattr(p.phrases, name))
        for lang, p in line.content.prompts.items()
        for name in READ_BACKS
    }
    read_backs = {
        s: name
        for s in said - catalog
        for (name, lang), p in patterns.items()
        if s[1] == lang and p.fullmatch(s[0])
    }
    assert set(read_backs.values()) == set(READ_BACKS), (
        "the walk should have produced every kind of read-back"
    )
    assert said - catalog - set(read_backs) == set()
    # And nothing in the catalog is made up: every entry is a phrase or something a node says.
    for s in sentences(line):
        if s.source == PHRASES:
            phrases = line.content.prompts[s.lang].phrases
            assert s.text in {spoken(getattr(phrases, n)) for n in fixed_phrase_names()}
        elif s.source == FROM_DIRECTORY:
            assert s.text in {spoken(t) for t in engine.specialty_sentences(line, s.lang)}
        elif s.source == AGREED:
            assert s.text in {
                spoken_form(t, line.prompts(s.lang).lexicon) for t in consent_given(line, s.lang)
            }
        else:
            said_there = engine.fixed_sentences(line, s.source, s.lang)
            assert s.text in {spoken_form(t, line.prompts(lang).lexicon) for t, lang in said_there}


@pytest.mark.unit
def test_the_catalog_depends_on_the_line_settings() -> None:
    plain, transfers = ({s.text for s in sentences(line)} for line in LINES)
    assert transfers - plain, "the emergency transfer and number add sentences"
    assert any("9 9 9" in t for t in transfers) and not any("9 9 9" in t for t in plain)


def _key_line(lang: str, key: str, action: str) -> str:
    p = CONTENT.prompts[lang]
    return p.phrases.help_line.format(action=getattr(p.actions, action), key=p.key_names.get(key, key))


@pytest.mark.unit
def test_the_catalog_has_every_title_part_option_and_call_sentence_once() -> None:
    catalog = sentences(CONTENT)
    assert len({(s.text, s.lang) for s in catalog}) == len(catalog)
    for i, lang in enumerate(CONTENT.languages):
        p = CONTENT.prompts[lang]

        def said(text: str, p: Prompts = p) -> str:
            return spoken_form(text, p.lexicon)

        texts = {s.text for s in catalog if s.lang == lang}
        for node in TREE.sections:
            section = TREE.section(node, lang)
            # Parts as spoken: the emergency number of the line said digit by digit.
            assert {said(section.title), *(said(fill(part, "1 1 2")) for part in section.parts)} <= texts
        for menu in TREE.menus.values():
            assert {said(menu.title[lang]), *([said(menu.intro[lang])] if menu.intro else [])} <= texts
            for option in menu.options:
                key = p.key_names.get(option.key, option.key)
                assert said(p.phrases.option.format(label=option.label[lang], key=key)) in texts
        # What a call hears first: the emergency sentence and the language menu, then the keys.
        first = [p.phrases.safety.format(number="1 1 2"), p.phrases.choose_language.format(key=i + 1)]
        first += [p.phrases.language_by_name, p.phrases.speech_hint]
        first += [p.phrases.switch_language] if lang != CONTENT.default_language else []
        first += [_key_line(lang, k, a) for k, a in (*FIRST_CALL_KEYS, *TOPIC_KEYS, *END_KEYS)]
        assert {said(t) for t in first} <= texts
        # Each topic's end says when its text was last updated.
        for topic in {TREE.topic_of(s) for s in TREE.sections}:
            day = max(TREE.section(s, lang).meta.updated_on for s in TREE.topic_sections(topic))
            assert said(p.phrases.updated.format(month=p.months[day.month - 1], year=day.year)) in texts
    assert not any("{" in s.text for s in catalog)
    assert all(spoken_form(s.text, CONTENT.prompts[s.lang].lexicon) == s.text for s in catalog), (
        "texts are already in their spoken form"
    )


# --- the cache and the render command --------------------------------------------------------


@pytest.mark.unit
def test_the_cache_name_depends_on_text_voice_rate_and_language(tmp_path: Path) -> None:
    base = AudioSettings(tmp_path, rate=150, voice=None)
    key = cache.audio_key("Main menu.", "en-IN", base)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key == cache.audio_key("Main menu.", "en-IN", AudioSettings(tmp_path / "elsewhere", 150))
    others = {
        cache.audio_key("Main menu!", "en-IN", base),
        cache.audio_key("Main menu.", "en-GB", base),
        cache.audio_key("Main menu.", "en-IN", AudioSettings(tmp_path, rate=151)),
        cache.audio_key("Main menu.", "en-IN", AudioSettings(tmp_path, voice="en-us")),
    }
    assert key not in others and len(others) == 4
    assert (
        cache.path_for("Main menu.", PROMPTS, base)
        == tmp_path / f"{cache.audio_key('Main menu.', PROMPTS.language, base)}.wav"
    )


@pytest.mark.slow
def test_a_full_render_makes_one_good_wav_per_sentence(rendered: tuple[AudioSettings, Report]) -> None:
    settings, report = rendered
    catalog = sentences(CONTENT)
    assert {i.rate for i in report.rendered} == set(NORMAL)
    assert report.failed == []
    assert (len(report.rendered), report.cached) == (len(catalog), 0)
    files = sorted(p.name for p in settings.audio_dir.iterdir())
    assert files == sorted(cache.path_for(s.text, CONTENT.prompts[s.lang], settings).name for s in catalog)
    total = 0.0
    for s in catalog:
        path = cache.path_for(s.text, CONTENT.prompts[s.lang], settings)
        total += tts.check_wav(path, s.text, settings.rate)
    assert report.seconds == pytest.approx(total)


_TOTALS = re.compile(
    r"rendered (\d+), already cached (\d+), failed (\d+)(?:, pruned (\d+))?;"
    r" ([\d.]+) s of audio; took ([\d.]+) s"
)


def _render_cli(app: Flask, *args: str) -> dict[str, float]:
    result = app.test_cli_runner().invoke(args=["audio", "render", *args])
    assert result.exit_code == 0, result.output
    match = _TOTALS.search(result.output)
    assert match, result.output
    rendered, cached, failed, pruned, seconds, took = match.groups()
    return {
        "rendered": int(rendered),
        "cached": int(cached),
        "failed": int(failed),
        "pruned": int(pruned or 0),
        "seconds": float(seconds),
        "took": float(took),
    }


def test_rerendering_renders_nothing_then_only_the_edited_section(
    rendered: tuple[AudioSettings, Report], content_copy: Path, tmp_path: Path
) -> None:
    settings = AudioSettings(tmp_path / "cache", rate=RATE)
    shutil.copytree(rendered[0].audio_dir, settings.audio_dir)
    count = len(sentences(CONTENT))

    again = _render_cli(audio_app(settings, CONTENT_DIR=str(content_copy)), "--rate", "normal")
    assert (again["rendered"], again["cached"], again["failed"]) == (0, count, 0)
    assert again["seconds"] == pytest.approx(rendered[1].seconds, abs=0.1)

    # A section of several parts whose last part ends in plain text (not a list item).
    node = next(
        n
        for n in TREE.sections
        if len(TREE.section(n, "en").parts) > 1 and TREE.section(n, "en").web[-1][-1].text
    )
    path = content_copy / "knowledge" / "sections" / "en" / f"{node}.md"
    path.write_text(path.read_text(encoding="utf-8").rstrip() + " Ask your doctor about this.\n", "utf-8")
    edited = load_content(content_copy)
    new_part = spoken(edited.tree.section(node, "en").parts[-1])
    assert new_part.endswith("Ask your doctor about this.")

    report = cache.render_all(edited, settings, rates=NORMAL)
    assert [(i.sentence.text, i.sentence.source) for i in report.rendered] == [(new_part, node)]
    assert report.cached == count - 1 and report.failed == []

    # The command agrees, and --prune removes the audio of the old text.
    totals = _render_cli(audio_app(settings, CONTENT_DIR=str(content_copy)), "--rate", "normal", "--prune")
    assert (totals["rendered"], totals["cached"], totals["pruned"]) == (0, count, 1)
    old = cache.path_for(spoken(part(node, -1)), PROMPTS, settings)
    assert not old.exists()
    assert len(list(settings.audio_dir.iterdir())) == count


@pytest.mark.slow
def test_the_render_command_renders_every_rate_of_what_is_missing(content_copy: Path, tmp_path: Path) -> None:
    # A tiny line: keep one section, so a from-scratch render of every rate stays quick.
    (content_copy / "knowledge" / "tree.yaml").write_text(
        "root: main\nmenus:\n  main:\n    title: {en: Main menu.}\n    options:\n"
        "      - {key: '1', label: {en: causes}, goto: causes}\n",
        "utf-8",
    )
    (content_copy / "prompts" / "hi.yaml").unlink()  # and one language
    (content_copy / "knowledge" / "specialists.yaml").unlink()
    shutil.rmtree(content_copy / "knowledge" / "sections" / "hi")
    for md in (content_copy / "knowledge" / "sections").rglob("*.md"):
        if md.stem != "causes":
            md.unlink()
    small = load_content(content_copy)
    count = len(sentences(small))
    settings = AudioSettings(tmp_path / "cache", rate=RATE)
    app = audio_app(settings, CONTENT_DIR=str(content_copy))
    first = _render_cli(app)
    assert (first["rendered"], first["cached"], first["failed"]) == (len(RATES) * count, 0, 0)
    wavs = list(settings.audio_dir.glob("*.wav"))
    assert len(wavs) == len(RATES) * count
    assert first["seconds"] == pytest.approx(sum(tts.wav_seconds(p) for p in wavs), abs=0.1)
    second = _render_cli(app)
    assert (second["rendered"], second["cached"]) == (0, len(RATES) * count)
    # Pruning while rendering one rate keeps the other rates' audio.
    one_rate = _render_cli(app, "--rate", "normal", "--prune")
    assert (one_rate["cached"], one_rate["pruned"]) == (count, 0)
    assert len(list(settings.audio_dir.glob("*.wav"))) == len(RATES) * count
    # Each caller rate has its own audio, slower or faster as <Say>'s prosody would be.
    text = spoken(small.tree.section("causes", "en").parts[0])
    seconds = {r: tts.wav_seconds(cache.path_for(text, PROMPTS, settings, r)) for r in RATES}
    assert seconds["fast"] < 0.9 * seconds["normal"] < 0.9 * seconds["slow"]

    # A caller who slowed the line down hears the slow audio.
    slow = CallState(node=small.tree.root, rate="slow")
    status, root = SignedClient(audio_app(settings, CONTENT_DIR=str(content_copy), AUDIO_BASE_URL=BASE)).post(
        state_path(slow), {"Digits": "1"}
    )
    assert status == 200 and root is not None
    urls = [(c.text or "") for c in gather(root) if c.tag == "Play"]
    assert f"{BASE}/audio/{cache.path_for(text, PROMPTS, settings, 'slow').name}" in urls
    assert all(c.tag == "Play" for c in gather(root))


# --- <Play> in TwiML and the audio route ------------------------------------------------------


def _first_welcome() -> list[str]:
    """What a new caller hears on choosing English (the emergency sentence came before), as spoken."""
    p = PROMPTS.phrases
    options = [p.option.format(label=o.label["en"], key=o.key) for o in TREE.menus[TREE.root].options]
    keys = [p.help_line.format(action=getattr(PROMPTS.actions, a), key=k) for k, a in FIRST_CALL_KEYS]
    return [spoken(t) for t in (p.welcome, p.disclaimer, *options, p.speech_hint, *keys)]


def _english_welcome(app: Flask) -> tuple[ET.Element, list[str]]:
    """A new caller calls, picks English and is not remembered (2): the reply, and the sentences
    it must hold."""
    client = SignedClient(app)
    status, first = client.post("/voice")
    assert status == 200 and first is not None
    action = urlsplit(gather(first).get("action", ""))
    assert "n=_language" in action.query
    asked = client.follow(first, {"Digits": "1"})
    root = client.follow(asked, {"Digits": "2"})
    return root, _first_welcome()


def _voiced(root: ET.Element) -> list[tuple[str, str]]:
    return [(child.tag, (child.text or "").strip()) for child in gather(root) if child.tag in ("Say", "Play")]


def test_with_audio_the_gather_plays_each_sentence_from_the_app(
    rendered: tuple[AudioSettings, Report],
) -> None:
    settings = rendered[0]
    app = audio_app(settings, AUDIO_BASE_URL=BASE)
    root, said = _english_welcome(app)
    voiced = _voiced(root)
    assert [tag for tag, _ in voiced] == ["Play"] * len(said)
    assert root.find("Say") is None and root.find("Play") is None  # all of it inside the Gather
    client = app.test_client()
    for (_, url), text in zip(voiced, said, strict=True):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == BASE
        assert parts.path == f"/audio/{cache.path_for(text, PROMPTS, settings).name}"
        response = client.get(parts.path)
        assert response.status_code == 200
        assert response.mimetype == "audio/wav"
        body = response.get_data()
        assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
        assert body == cache.path_for(text, PROMPTS, settings).read_bytes()


def test_a_call_through_the_simulated_phone_hears_audio(
    rendered: tuple[AudioSettings, Report], phone_for: Callable[[Flask], Phone]
) -> None:
    settings = rendered[0]
    app = audio_app(settings, AUDIO_BASE_URL=BASE)

    def url(text: str, lang: str = "en") -> str:
        """Where the audio of a sentence is played from, once in its spoken form."""
        prompts = CONTENT.prompts[lang]
        return f"{BASE}/audio/{cache.path_for(spoken_form(text, prompts.lexicon), prompts, settings).name}"

    phone = phone_for(app)
    turn = phone.dial()  # the emergency sentence and the language menu, in every language
    assert turn.heard and all(h.verb == "Play" and h.in_gather for h in turn.heard)
    safety = {lang: CONTENT.prompts[lang].phrases.safety.format(number="1 1 2") for lang in ("en", "hi")}
    assert [h.text for h in turn.heard[:2]] == [url(safety["en"], "en"), url(safety["hi"], "hi")]
    turn = phone.press("1")  # English: may it be remembered? (rendered ahead too)
    assert [h.text for h in turn.heard] == [url(text) for text in consent_prompt(Line(content=CONTENT), "en")]
    turn = phone.press("2")  # no: the welcome and the main menu
    assert [h.text for h in turn.heard] == [url(text) for text in _first_welcome()]
    assert all(h.verb == "Play" and h.in_gather for h in turn.heard)
    for key in TREE.keys_to("symptoms"):
        turn = phone.press(key)
    # A topic's part, the emergency number in it said as on the line, is played too; and the next.
    assert turn.heard and all(h.verb == "Play" for h in turn.heard)
    assert url(fill(part("symptoms", 0), "1 1 2")) in [h.text for h in turn.heard]
    turn = phone.wait()
    assert [h.text for h in turn.heard] == [url(part("symptoms", 1))]
    # Another new caller says yes: the thanks and how long it is kept are played too.
    agreeing = phone_for(app)
    agreeing.dial()
    agreeing.press("1")
    turn = agreeing.press("1")
    thanks = consent_given(Line(content=CONTENT), "en")
    assert [h.text for h in turn.heard[: len(thanks)]] == [url(text) for text in thanks]
    assert all(h.verb == "Play" for h in turn.heard)


def test_without_an_audio_base_url_the_line_says_everything(
    rendered: tuple[AudioSettings, Report],
) -> None:
    app = audio_app(rendered[0])  # audio is rendered, but AUDIO_BASE_URL is not set
    root, said = _english_welcome(app)
    assert _voiced(root) == [("Say", text) for text in said]
    assert list(root.iter("Play")) == []


def test_what_cannot_be_prerendered_is_said_and_the_rest_played(
    rendered: tuple[AudioSettings, Report],
) -> None:
    app = audio_app(rendered[0], AUDIO_BASE_URL=BASE)
    # A menu with a key to spare (every key of the main menu does something).
    node, unused = next(
        (mid, k)
        for mid, menu in TREE.menus.items()
        for k in "12345678"
        if k not in {o.key for o in menu.options} | set(RESERVED_KEYS)
    )
    in_call = CallState(node=node, flags=IN_CALL)
    status, root = SignedClient(app).post(state_path(in_call), {"Digits": unused})
    assert status == 200 and root is not None
    voiced = _voiced(root)
    assert voiced[0] == ("Say", PROMPTS.phrases.not_an_option.format(heard=unused))
    assert voiced[1:] and all(tag == "Play" for tag, _ in voiced[1:])


def test_the_call_back_confirmation_says_the_callers_number_and_plays_the_rest(
    rendered: tuple[AudioSettings, Report], phone_for: Callable[[Flask], Phone]
) -> None:
    app = audio_app(rendered[0], AUDIO_BASE_URL=BASE)  # no help desk number: 0 offers a call back
    phone = phone_for(app)
    answer(phone, "1")
    turn = phone.press("0")
    assert turn.heard and all(h.verb == "Play" for h in turn.heard)
    turn = phone.press("1")  # a call back
    assert CONTENT.directory is not None
    name = CONTENT.directory.specialties[CONTENT.directory.default].name["en"]
    digits = " ".join(phone.caller[-4:])
    assert (turn.heard[0].verb, turn.heard[0].text) == (
        "Say",
        PROMPTS.phrases.callback_saved.format(name=name, digits=digits),
    )
    assert turn.heard[1:] and all(h.verb == "Play" for h in turn.heard[1:])


def test_a_sentence_with_no_cached_audio_falls_back_to_say(tmp_path: Path) -> None:
    settings = AudioSettings(tmp_path / "partial", rate=RATE)
    welcome = spoken(PROMPTS.phrases.welcome)
    tts.synthesize(welcome, cache.path_for(welcome, PROMPTS, settings), rate=RATE)
    app = audio_app(settings, AUDIO_BASE_URL=BASE)
    root, said = _english_welcome(app)
    assert said[0] == welcome
    expected = [("Play", f"{BASE}/audio/{cache.path_for(welcome, PROMPTS, settings).name}")]
    expected += [("Say", text) for text in said[1:]]
    assert _voiced(root) == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "0" * 64 + ".wav",  # well formed, but no such file
        "A" * 64 + ".wav",
        "0" * 63 + ".wav",
        "0" * 64 + ".mp3",
        "..%2F..%2Fpyproject.toml",
        "%2E%2E",
        "x.wav",
    ],
)
def test_the_audio_route_serves_only_cached_files(rendered: tuple[AudioSettings, Report], name: str) -> None:
    client = audio_app(rendered[0], AUDIO_BASE_URL=BASE).test_client()
    assert client.get(f"/audio/{name}").status_code == 404


@pytest.mark.slow
def test_the_audio_route_only_answers_get(rendered: tuple[AudioSettings, Report]) -> None:
    name = next(rendered[0].audio_dir.glob("*.wav")).name
    client = audio_app(rendered[0]).test_client()
    assert client.get(f"/audio/{name}").status_code == 200
    assert client.post(f"/audio/{name}").status_code == 405


@pytest.mark.unit
def test_audio_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IVR_AUDIO_DIR", str(tmp_path / "audio"))
    monkeypatch.setenv("AUDIO_BASE_URL", "https://example.test/line/")
    monkeypatch.setenv("IVR_TTS_RATE", "170")
    monkeypatch.setenv("IVR_TTS_VOICE", "en-us")
    cfg = config.from_env()
    assert cfg["AUDIO_BASE_URL"] == "https://example.test/line"
    assert AudioSettings.from_config(cfg) == AudioSettings(tmp_path / "audio", rate=170, voice="en-us")
    for name in ("IVR_AUDIO_DIR", "AUDIO_BASE_URL", "IVR_TTS_RATE", "IVR_TTS_VOICE"):
        monkeypatch.delenv(name)
    cfg = config.from_env()
    assert cfg["AUDIO_BASE_URL"] is None and cfg["TTS_VOICE"] is None
    assert Path(cfg["AUDIO_DIR"]) == REPO_ROOT / "audio-cache"


@pytest.mark.slow
def test_a_transfer_plays_its_sentence_before_dialling(rendered: tuple[AudioSettings, Report]) -> None:
    app = audio_app(rendered[0], AUDIO_BASE_URL=BASE, OPERATOR_NUMBER=OPERATOR)
    operator = next(k for k, action in RESERVED_KEYS.items() if action == "operator")
    state = CallState(node=TREE.root, flags=IN_CALL)
    status, root = SignedClient(app).post(state_path(state), {"Digits": operator})
    assert status == 200 and root is not None
    assert CONTENT.directory is not None
    name = CONTENT.directory.specialties[CONTENT.directory.default].name["en"]  # the help desk
    connecting = spoken(PROMPTS.phrases.connecting_to.format(name=name))
    played = f"{BASE}/audio/{cache.path_for(connecting, PROMPTS, rendered[0]).name}"
    assert [c.tag for c in root] == ["Play", "Dial"]
    assert (root[0].text or "").strip() == played
    assert [(n.text or "").strip() for n in root[1].iter("Number")] == [OPERATOR]
