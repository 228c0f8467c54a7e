"""How long a caller waits for information, from measured TTS audio; and how long rendering takes.

Run: .venv/bin/python bench/time_to_information.py   (renders what is missing into the audio cache)

Time to information: seconds from the answer to the first sentence of each top-level topic, for a
caller who presses each key as soon as it has been announced (barge-in). New callers pick their
language first; returning callers are greeted in the language they chose last time. Targets: at most
20 s to every top-level topic, and a main-menu prompt (what # says) of at most 15 s.
Render: every sentence at every rate into an empty cache, then the re-render after one topic
changes, which must touch only that topic's sentences.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask

from ivr import create_app
from ivr.audio import cache
from ivr.audio.cache import AudioSettings
from ivr.config import REPO_ROOT
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.simulator.loudspeaker import Loudspeaker

TOKEN = "bench-token"
TOPIC_TARGET_S = 20.0
MENU_TARGET_S = 15.0
_WORK = Path(tempfile.mkdtemp(prefix="ivr-bench-"))


def _app(**config: object) -> Flask:
    """An app for the benchmark, with its own throw-away database."""
    # Writes at once (no batching): the "returning" caller phones again straight after choosing.
    return create_app(
        {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "HASH_SALT": "bench",
            "DATABASE_URL": f"sqlite:///{_WORK}/ivr.sqlite3",
            "EVENT_BATCH_MS": 0,
            **config,
        }
    )


def _seconds(speaker: Loudspeaker, heard: list[object]) -> float:
    total = 0.0
    for h in heard:
        voiced = speaker.voice(h)  # type: ignore[arg-type]
        if voiced.seconds is None:
            raise SystemExit(f"no audio for {voiced.text!r}: {voiced.problem}")
        total += voiced.seconds
    return total


def _until_announced(speaker: Loudspeaker, turn: Turn, key: str) -> float:
    """Seconds until the sentence that announces `key` has been said: the caller barges in then."""
    at = next(
        i for i, h in enumerate(turn.heard) if f" {key} " in f" {h.text} ".replace(".", " ").replace("।", " ")
    )
    return _seconds(speaker, list(turn.heard[: at + 1]))


def _phone(app: Flask, caller: str) -> Phone:
    return Phone(FlaskTransport(app), base_url="http://localhost", auth_token=TOKEN, caller=caller)


def time_to_topics(app: Flask, speaker: Loudspeaker, lang_key: str, returning: bool) -> dict[str, float]:
    """{topic: seconds from the answer to its first sentence} for one kind of caller."""
    tree = app.extensions["ivr"].line.content.tree
    results: dict[str, float] = {}
    for n, option in enumerate(tree.menus[tree.root].options):
        caller = f"+1555{lang_key}{int(returning)}{n:05d}"
        elapsed = 0.0
        phone = _phone(app, caller)
        turn = phone.dial()
        if returning:  # a first call to choose the language; the measured call is the next one
            phone.press(lang_key)
            phone = _phone(app, caller)
            turn = phone.dial()
        else:
            elapsed += _until_announced(speaker, turn, lang_key)
            turn = phone.press(lang_key)
        elapsed += _until_announced(speaker, turn, option.key)
        phone.press(option.key)
        results[option.goto] = elapsed
    return results


def main_menu_seconds(app: Flask, speaker: Loudspeaker, lang_key: str) -> float:
    """The main-menu prompt a caller hears on pressing #."""
    phone = _phone(app, f"+1555{lang_key}900000")
    phone.dial()
    phone.press(lang_key)
    return _seconds(speaker, list(phone.press("#").heard))


def render_times() -> tuple[float, int, float, int, int]:
    """(full render s, files, re-render s after one topic changed, files re-rendered, of that topic)."""
    root = _WORK / "content"
    for name in ("prompts", "knowledge"):
        shutil.copytree(REPO_ROOT / name, root / name)
    settings = AudioSettings(audio_dir=_WORK / "render-audio")
    started = time.monotonic()
    full = cache.render_all(_app(CONTENT_DIR=str(root)).extensions["ivr"].line, settings)
    full_s = time.monotonic() - started
    section = root / "knowledge/sections/en/junction.md"
    section.write_text(section.read_text().rstrip() + " This sentence is new.\n")
    line = _app(CONTENT_DIR=str(root)).extensions["ivr"].line
    started = time.monotonic()
    again = cache.render_all(line, settings)
    again_s = time.monotonic() - started
    ours = sum(1 for i in again.rendered if i.sentence.source == "junction")
    return full_s, len(full.rendered), again_s, len(again.rendered), ours


def main() -> None:
    """Print the time-to-information table and the render figures."""
    app = _app()
    settings = AudioSettings.from_config(app.config)
    speaker = Loudspeaker(settings)
    print("Time to information (espeak-ng audio at the normal rate, 150 wpm; barge-in on each key)")
    print(f"{'caller':<18} {'topic':<18} {'seconds':>8} {'target':>7} {'ratio':>6}")
    worst = 0.0
    for lang_key, lang in (("1", "English"), ("2", "Hindi")):
        for returning in (False, True):
            who = f"{lang} {'returning' if returning else 'new'}"
            for topic, seconds in time_to_topics(app, speaker, lang_key, returning).items():
                worst = max(worst, seconds / TOPIC_TARGET_S)
                ratio = seconds / TOPIC_TARGET_S
                print(f"{who:<18} {topic:<18} {seconds:>8.1f} {TOPIC_TARGET_S:>7.0f} {ratio:>6.2f}")
        menu = main_menu_seconds(app, speaker, lang_key)
        worst_menu = menu / MENU_TARGET_S
        print(f"{lang:<18} {'main menu prompt':<18} {menu:>8.1f} {MENU_TARGET_S:>7.0f} {worst_menu:>6.2f}")
    print(f"worst topic ratio (seconds / target; at most 1.00 meets it): {worst:.2f}")
    speaker.close()
    full_s, files, again_s, again_files, ours = render_times()
    print(f"full render: {files} files in {full_s:.1f} s")
    print(f"re-render after one topic changed: {again_files} files ({ours} of that topic) in {again_s:.2f} s")
    print(f"re-render ratio (re-render time / full render time): {again_s / full_s:.3f}")
    shutil.rmtree(_WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
