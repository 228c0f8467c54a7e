"""Offline audio: pyttsx3 on espeak-ng renders, the cache, `flask audio render`, and <Play> in TwiML."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import wave
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from ivr import config, engine
from ivr.audio import cache, tts
from ivr.audio.cache import AudioSettings, Report
from ivr.audio.catalog import DIRECTORY as FROM_DIRECTORY
from ivr.audio.catalog import PHRASES, fixed_phrase_names, sentences
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.directory import Directory
from ivr.content.models import RESERVED_KEYS
from ivr.engine import LANGUAGE, RATES, CallerInput, CallState, Kind, Line
from ivr.lexicon import spoken_form
from ivr.simulator import Phone
from tests.conftest import OPERATOR, SignedClient, make_app
from tests.twiml_helpers import gather

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
        (PROMPTS.phrases.keys_intro, 150, None),  # long, with digits: pyttsx3 used to return early
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


def _engine_says(line: Line) -> set[tuple[str, str]]:
    """(sentence as spoken, language) for everything the engine says from every node, part and input."""
    said: list[engine.Step] = [engine.start(line, lang) for lang in (None, *line.content.languages)]
    said += [engine.start(line, returning=True)]
    words = [getattr(PROMPTS.speech, a)[0] for a in engine.SPEECH_ACTIONS]
    inputs = [CallerInput(digits=d) for d in [*"12345678", *RESERVED_KEYS]]
    inputs += [CallerInput(silent=True), CallerInput(speech="xyzzy plugh")]
    inputs += [CallerInput(speech=w) for w in words]
    inputs += [CallerInput(dial_status=s) for s in ("completed", "busy", "no-answer")]
    every_menu = (1 << len(TREE.menus)) - 1
    for node in (*TREE.nodes(), *engine.SYSTEM_NODES):
        for lang in line.content.languages:
            for index in range(TREE.part_count(node)):
                for silences in range(engine.MAX_SILENCES + 2):
                    for misses, visited, ret in ((0, 0, ""), (1, every_menu, TREE.root)):
                        state = CallState(node, index, silences, misses, lang, visited=visited, ret=ret)
                        said += [engine.next_step(line, state, inp) for inp in inputs]
    return {
        (spoken_form(text, line.prompts(step.language_of(i)).lexicon), step.language_of(i))
        for step in said
        for i, text in enumerate(step.say)
    }


@pytest.mark.parametrize("line", LINES, ids=["plain", "with-transfers"])
def test_the_catalog_holds_every_sentence_the_engine_can_say_except_read_backs(line: Line) -> None:
    catalog = {(s.text, s.lang) for s in sentences(line)}
    said = _engine_says(line)
    # Only the phrases that read back what the caller did cannot be rendered ahead.
    templates = [
        t for p in line.content.prompts.values() for t in (p.phrases.not_an_option, p.phrases.not_understood)
    ]
    patterns = [re.compile(re.escape(t).replace(re.escape("{heard}"), ".+")) for t in templates]
    read_backs = {s for s in said - catalog if any(p.fullmatch(s[0]) for p in patterns)}
    assert read_backs, "the walk should have produced some read-backs"
    assert said - catalog - read_backs == set()
    # And nothing in the catalog is made up: every entry is a phrase or something a node says.
    for s in sentences(line):
        if s.source == PHRASES:
            phrases = line.content.prompts[s.lang].phrases
            assert s.text in {spoken(getattr(phrases, n)) for n in fixed_phrase_names()}
        elif s.source == FROM_DIRECTORY:
            assert s.text in {spoken(t) for t in engine.specialty_sentences(line, s.lang)}
        else:
            said_there = engine.fixed_sentences(line, s.source, s.lang)
            assert s.text in {spoken(t) for t, _ in said_there}


def test_the_catalog_depends_on_the_line_settings() -> None:
    plain, transfers = ({s.text for s in sentences(line)} for line in LINES)
    assert transfers - plain, "the emergency transfer and number add sentences"
    assert any("9 9 9" in t for t in transfers) and not any("9 9 9" in t for t in plain)


def test_the_catalog_has_every_title_part_and_option_once() -> None:
    texts = [s.text for s in sentences(CONTENT)]
    assert len(texts) == len(set(texts))
    for node in TREE.sections:
        section = TREE.section(node, "en")
        assert {spoken(section.title), *(spoken(p) for p in section.parts)} <= set(texts)
    for menu in TREE.menus.values():
        assert {menu.title["en"], *([menu.intro["en"]] if menu.intro else [])} <= set(texts)
        for option in menu.options:
            assert PROMPTS.phrases.option.format(label=option.label["en"], key=option.key) in texts
    assert not any("{" in t for t in texts)
    assert all(spoken(t) == t for t in texts), "texts are already in their spoken form"


# --- the cache and the render command --------------------------------------------------------


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


def test_a_full_render_makes_one_good_wav_per_sentence(rendered: tuple[AudioSettings, Report]) -> None:
    settings, report = rendered
    catalog = sentences(CONTENT)
    assert {i.rate for i in report.rendered} == set(NORMAL)
    assert report.failed == []
    assert (len(report.rendered), report.cached) == (len(catalog), 0)
    assert report.elapsed < 60
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

    node = next(n for n in TREE.sections if len(TREE.section(n, "en").parts) > 1)
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


def _english_welcome(app: Flask) -> tuple[ET.Element, list[str]]:
    """A new caller picks English: the reply, and what the engine says it holds."""
    status, root = SignedClient(app).post(state_path(CallState(node=LANGUAGE)), {"Digits": "1"})
    assert status == 200 and root is not None
    step = engine.next_step(app.extensions["ivr"].line, CallState(node=LANGUAGE), CallerInput(digits="1"))
    return root, [spoken(t) for t in step.say]


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
    app = audio_app(rendered[0], AUDIO_BASE_URL=BASE)
    phone = phone_for(app)
    turn = phone.dial()
    assert turn.heard and all(h.verb == "Play" and h.in_gather for h in turn.heard)
    section_turn = phone.press(TREE.menus["main"].options[0].key)
    assert section_turn.heard and all(h.verb == "Play" for h in section_turn.heard)


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
    status, root = SignedClient(app).post(state_path(CallState(node=node)), {"Digits": unused})
    assert status == 200 and root is not None
    voiced = _voiced(root)
    assert voiced[0] == ("Say", PROMPTS.phrases.not_an_option.format(heard=unused))
    assert voiced[1:] and all(tag == "Play" for tag, _ in voiced[1:])


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


def test_the_audio_route_only_answers_get(rendered: tuple[AudioSettings, Report]) -> None:
    name = next(rendered[0].audio_dir.glob("*.wav")).name
    client = audio_app(rendered[0]).test_client()
    assert client.get(f"/audio/{name}").status_code == 200
    assert client.post(f"/audio/{name}").status_code == 405


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


def test_a_transfer_plays_its_sentence_before_dialling(rendered: tuple[AudioSettings, Report]) -> None:
    app = audio_app(rendered[0], AUDIO_BASE_URL=BASE, OPERATOR_NUMBER=OPERATOR)
    operator = next(k for k, action in RESERVED_KEYS.items() if action == "operator")
    state = CallState(node=TREE.root)
    status, root = SignedClient(app).post(state_path(state), {"Digits": operator})
    assert status == 200 and root is not None
    step = engine.next_step(app.extensions["ivr"].line, state, CallerInput(digits=operator))
    assert step.kind is Kind.TRANSFER
    assert [c.tag for c in root] == ["Play"] * len(step.say) + ["Dial"]
