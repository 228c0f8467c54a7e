"""How long callers wait for information, in seconds of espeak-ng audio; and how long rendering takes.

Run: .venv/bin/python bench/time_to_information.py   (renders what is missing into the audio cache)

Every figure is the sum of the audio a caller hears, measured from the WAV files pyttsx3 renders
with espeak-ng at the normal rate (150 words a minute), through signed webhooks on the console
phone. Callers:
- quick: presses each key as soon as the sentence that announces it has been said (barge-in);
- full listener: hears every reply to its end before pressing;
- passive: chooses a topic, then presses nothing.
New callers choose their language first, then hear whether the line may remember it (quick
callers agree with 1 as soon as it is said, full listeners hear it all and say no with 2);
returning callers (who agreed on their first call) are greeted in the language they
chose before. Targets (issue 11): every topic's first sentence within 20 s (quick) and 45 s (full
listener); a passive listener hears 100 % of a topic; the emergency sentence said within the first
10 s; the first main-menu reply at most 30 s; the first call's key list at most 8 s; each page of
help at most 15 s.

A returning caller who stopped inside a topic (issue 16) is measured back to the part they stopped
at: carrying on (1 at the offer) against navigating from the top with keys, as they could before
the offer. `--carry-on` prints that table alone.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask

from ivr import engine, services
from ivr.audio import cache
from ivr.audio.cache import AudioSettings
from ivr.config import REPO_ROOT
from ivr.engine import wording
from ivr.factory import create_app
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.simulator.loudspeaker import Loudspeaker
from ivr.simulator.phone import Heard

TOKEN = "bench-token"
QUICK_TARGET_S = 20.0
FULL_TARGET_S = 45.0
SAFETY_TARGET_S = 10.0
FIRST_MENU_TARGET_S = 30.0
KEYS_TARGET_S = 8.0
HELP_TARGET_S = 15.0
LANGS = (("1", "en", "English"), ("2", "hi", "Hindi"))
_WORK = Path(tempfile.mkdtemp(prefix="ivr-bench-"))


def _app(**config: object) -> Flask:
    """An app for the benchmark, with its own throw-away database."""
    # Writes at once (no batching): the returning caller phones again straight after choosing.
    return create_app(
        {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "HASH_SALT": "bench",
            "DATABASE_URL": f"sqlite:///{_WORK}/ivr.sqlite3",
            "EVENT_BATCH_MS": 0,
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )


@dataclass
class Ear:
    """Measures what a caller hears."""

    speaker: Loudspeaker

    def seconds(self, heard: list[Heard]) -> float:
        total = 0.0
        for h in heard:
            voiced = self.speaker.voice(h)
            if voiced.seconds is None:
                raise SystemExit(f"no audio for {voiced.text!r}: {voiced.problem}")
            total += voiced.seconds
        return total

    def until(self, turn: Turn, sentence: str) -> float:
        """Seconds until `sentence` has been said in a turn (a quick caller presses then)."""
        at = next((i for i, h in enumerate(turn.heard) if h.text == sentence), None)
        if at is None:
            raise SystemExit(f"{sentence!r} was not said; heard {turn.says}")
        return self.seconds(turn.heard[: at + 1])


class Caller:
    """One kind of caller phoning the line: their language, new or returning, quick or full."""

    def __init__(self, app: Flask, ear: Ear, lang_key: str, returning: bool, number: str) -> None:
        self.app, self.ear, self.lang_key, self.returning = app, ear, lang_key, returning
        self.line = services.line(app)
        self.lang = self.line.content.languages[int(lang_key) - 1]
        self.number = number

    def phone(self) -> Phone:
        return Phone(
            FlaskTransport(self.app), base_url="http://localhost", auth_token=TOKEN, caller=self.number
        )

    def answer(self, quick: bool) -> tuple[Phone, Turn, float]:
        """Dial, choose the language if new: (phone, the main menu's turn, seconds heard so far)."""
        phone = self.phone()
        turn = phone.dial()
        if self.returning:
            if turn.gather is not None and "n=_language" in turn.gather.get("action", ""):
                # A first call, agreeing to be remembered; the measured call is the next.
                self.agree(phone.press(self.lang_key), phone)
                phone.hangup()
                phone = self.phone()
                turn = phone.dial()
            return phone, turn, 0.0
        choose = self.line.prompts(self.lang).phrases.choose_language.format(key=self.lang_key)
        elapsed = self.ear.until(turn, choose) if quick else self.ear.seconds(turn.heard)
        turn = phone.press(self.lang_key)
        if _asks_consent(turn):
            # "To have me remember ..., press 1.": a quick caller agrees as soon as the key is said;
            # a full listener hears all of it and says no with 2 (the welcome follows either way).
            p = self.line.prompts(self.lang).phrases
            if quick:
                elapsed += self.ear.until(turn, p.consent_ask)
                turn = phone.press("1")
            else:
                elapsed += self.ear.seconds(turn.heard)
                turn = phone.press("2")
        return phone, turn, elapsed

    def agree(self, turn: Turn, phone: Phone) -> Turn:
        """Agree to be remembered when the line asks (1), so that the next call is welcomed back."""
        return phone.press("1") if _asks_consent(turn) else turn

    def to_topic(self, node: str, quick: bool) -> float:
        """Seconds from the answer to the first sentence of the topic `node` (a series: its first)."""
        tree = self.line.content.tree
        phone, turn, elapsed = self.answer(quick)
        here = tree.root
        for key in tree.keys_to(node):
            option = next(o for o in tree.menus[here].options if o.key == key)
            said = wording.options(self.line, self.lang, here)[int(key) - 1]
            elapsed += self.ear.until(turn, said) if quick else self.ear.seconds(turn.heard)
            turn = phone.press(key)
            here = option.goto
        return elapsed

    def heard_share(self, node: str) -> tuple[float, float]:
        """A passive listener in a topic: (share of its parts heard, seconds of the topic's audio)."""
        tree = self.line.content.tree
        phone, turn, _ = self.answer(quick=True)
        for key in tree.keys_to(node):
            turn = phone.press(key)
        parts = {(s, i) for s in tree.topic_sections(node) for i in range(tree.part_count(s))}
        heard: set[tuple[str, int]] = set()
        seconds = 0.0
        for _ in range(len(parts) + 2):
            where = _where(turn)
            if where is None or where not in parts:
                break
            heard.add(where)
            seconds += self.ear.seconds(turn.heard)
            turn = phone.wait()
        return len(heard) / len(parts), seconds

    def carry_on(self, node: str, quick: bool) -> tuple[str, int, float]:
        """A caller who stopped in the last part of the topic `node` calls again and presses 1 at the
        offer: (section, part stopped at, seconds of speech until that part begins)."""
        tree = self.line.content.tree
        phone = self.phone()
        turn = phone.dial()
        turn = self.agree(phone.press(self.lang_key), phone)
        for key in tree.keys_to(node):
            turn = phone.press(key)
        last = tree.topic_sections(node)[-1]
        stopped = (last, tree.part_count(last) - 1)
        while _where(turn) != stopped:
            turn = phone.press("1")  # on to the topic's last part, where the line drops
        phone.hangup()
        phone = self.phone()
        offer = phone.dial()
        key = wording.key_lines(self.line, self.lang, wording.CARRY_ON_KEYS)[0]
        elapsed = self.ear.until(offer, key) if quick else self.ear.seconds(offer.heard)
        if _where(phone.press("1")) != stopped:
            raise SystemExit(f"1 at the offer did not carry on at {stopped}")
        return (*stopped, elapsed)

    def navigate_to_part(self, section: str, part: int) -> float:
        """A returning caller with no offer who hears every prompt, and every part before `part`
        again, until `part` of `section` begins (the keys to its topic, then the parts play on)."""
        tree = self.line.content.tree
        topic = tree.topic_of(section)
        elapsed = self.to_topic(topic, quick=False)
        phone, turn, _ = self.answer(quick=False)
        for key in tree.keys_to(topic):
            turn = phone.press(key)
        while _where(turn) != (section, part):
            elapsed += self.ear.seconds(turn.heard)
            turn = phone.wait()
        return elapsed


def _asks_consent(turn: Turn) -> bool:
    """Whether the line is asking to remember the caller's choices (ivr.engine.consent)."""
    return turn.gather is not None and "n=_consent" in turn.gather.get("action", "")


def _where(turn: Turn) -> tuple[str, int] | None:
    if turn.gather is None:
        return None
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(turn.gather.get("action", "")).query)
    return query["n"][0], int(query["p"][0])


def topics(app: Flask) -> list[str]:
    """What a caller can choose by key as a topic: every option leading to a section or a series."""
    tree = services.line(app).content.tree
    return [
        n
        for n in tree.below(tree.root)
        if (n in tree.sections and not tree.series_of(n)) or tree.is_series(n)
    ]


def safety_seconds(app: Flask, ear: Ear, lang_key: str, returning: bool, number: str) -> float:
    """Seconds from the answer until the emergency sentence (the last one, before a language) ends."""
    caller = Caller(app, ear, lang_key, returning, number)
    line = caller.line
    phone = caller.phone()
    turn = phone.dial()
    if returning:
        caller.agree(phone.press(lang_key), phone)
        phone.hangup()
        turn = caller.phone().dial()
        return ear.until(turn, wording.safety(line, caller.lang))
    return ear.until(turn, wording.safety(line, line.content.languages[-1]))


def help_seconds(app: Flask, ear: Ear, lang: str) -> tuple[float, str]:
    """The longest page of help anywhere (every node, part and speed), and where it is."""
    line = services.line(app)
    tree = line.content.tree
    worst, where = 0.0, ""
    places = [(n, p) for n in tree.nodes() for p in range(tree.part_count(n) + (n in tree.sections))]
    places += [(n, 0) for n in engine.SYSTEM_NODES]
    for node, part in places:
        for rate in engine.RATES:
            state = engine.CallState(node, part, lang=lang, rate=rate, flags=engine.CHOSEN)
            for page, lines in enumerate(wording.help_pages(line, state, lang)):
                seconds = ear.seconds(
                    [Heard("Say", text, True, line.prompts(lang).language) for text in lines]
                )
                if seconds > worst:
                    worst, where = seconds, f"{node} part {part}, page {page + 1}"
    return worst, where


def render_times() -> tuple[float, int, float, int, int]:
    """(full render s, files, re-render s after one topic changed, files re-rendered, of that topic)."""
    root = _WORK / "content"
    for name in ("prompts", "knowledge"):
        shutil.copytree(REPO_ROOT / name, root / name)
    settings = AudioSettings(audio_dir=_WORK / "render-audio")
    started = time.monotonic()
    full = cache.render_all(services.line(_app(CONTENT_DIR=str(root))), settings)
    full_s = time.monotonic() - started
    section = root / "knowledge/sections/en/junction.md"
    section.write_text(section.read_text().rstrip() + " This sentence is new.\n")
    line = services.line(_app(CONTENT_DIR=str(root)))
    started = time.monotonic()
    again = cache.render_all(line, settings)
    again_s = time.monotonic() - started
    ours = sum(1 for i in again.rendered if i.sentence.source == "junction")
    return full_s, len(full.rendered), again_s, len(again.rendered), ours


def carry_on_table(app: Flask, ear: Ear, number: Callable[[], str]) -> None:
    """Seconds of speech before a returning caller who stopped in a topic's last part is back there:
    carrying on, against navigating from the top with keys (to the topic's first sentence; and to
    the part, hearing the parts before it again)."""
    print("\nA returning caller who stopped in a topic's last part: seconds of speech until they are back")
    print("carry on: hears the offer and presses 1 (quick: as soon as the key is said; full: all of it);")
    print("navigate: welcome back, the menus' keys, to the topic's first sentence (quick, full),")
    print("  and (full) on to the part they stopped at, hearing the parts before it again")
    head = f"{'topic':<20}{'stopped at':<26}"
    for _, _, lang in LANGS:
        head += f"{lang + ' carry on':>18}{lang + ' navigate':>27}"
    print(head)
    print(f"{'':<46}" + f"{'quick':>9}{'full':>9}{'quick':>9}{'full':>9}{'to part':>9}" * len(LANGS))
    for node in topics(app):
        cells, stopped = "", ""
        for lang_key, _, _ in LANGS:
            section, part, quick = Caller(app, ear, lang_key, True, number()).carry_on(node, quick=True)
            _, _, full = Caller(app, ear, lang_key, True, number()).carry_on(node, quick=False)
            to_topic_quick = Caller(app, ear, lang_key, True, number()).to_topic(node, quick=True)
            to_topic_full = Caller(app, ear, lang_key, True, number()).to_topic(node, quick=False)
            to_part = Caller(app, ear, lang_key, True, number()).navigate_to_part(section, part)
            stopped = f"{section} part {part + 1}"
            cells += "".join(f"{v:>9.1f}" for v in (quick, full, to_topic_quick, to_topic_full, to_part))
        print(f"{node:<20}{stopped:<26}{cells}")


def _mark(seconds: float, target: float) -> str:
    return f"{seconds:6.1f}{'' if seconds <= target else ' !'}"


def main() -> None:
    """Print the tables; a "!" marks a figure over its target."""
    render = "--no-render" not in sys.argv
    app = _app()
    ear = Ear(Loudspeaker(AudioSettings.from_config(app.config)))
    line = services.line(app)
    tree = line.content.tree
    numbers = iter(range(10**6))

    def number() -> str:
        return f"+1555{next(numbers):07d}"

    if "--carry-on" in sys.argv:
        carry_on_table(app, ear, number)
        ear.speaker.close()
        shutil.rmtree(_WORK, ignore_errors=True)
        return

    print("Seconds to each topic's first sentence (espeak-ng at 150 wpm); a ! is over the target")
    print(f"quick: press as soon as the key is said (target {QUICK_TARGET_S:.0f} s); ", end="")
    print(f"full: hear every prompt to its end (target {FULL_TARGET_S:.0f} s)")
    header = f"{'topic':<24}" + "".join(
        f"{lang + (' new' if not r else ' back'):>22}" for _, _, lang in LANGS for r in (False, True)
    )
    print(header)
    print(f"{'':<24}" + f"{'quick':>11}{'full':>11}" * 4)
    worst_quick = worst_full = 0.0
    for node in topics(app):
        cells = ""
        for lang_key, _, _ in LANGS:
            for returning in (False, True):
                quick = Caller(app, ear, lang_key, returning, number()).to_topic(node, quick=True)
                full = Caller(app, ear, lang_key, returning, number()).to_topic(node, quick=False)
                worst_quick, worst_full = max(worst_quick, quick), max(worst_full, full)
                cells += f"{_mark(quick, QUICK_TARGET_S):>11}{_mark(full, FULL_TARGET_S):>11}"
        print(f"{node:<24}{cells}")
    print(
        f"worst: quick {worst_quick:.1f} s (target {QUICK_TARGET_S:.0f}),"
        f" full {worst_full:.1f} s (target {FULL_TARGET_S:.0f})"
    )

    print("\nA passive listener: share of each topic heard, and its length")
    print(f"{'topic':<24}{'English':>10}{'seconds':>9}{'Hindi':>10}{'seconds':>9}")
    for node in topics(app):
        cells = ""
        for lang_key, _, _ in LANGS:
            share, seconds = Caller(app, ear, lang_key, True, number()).heard_share(node)
            cells += f"{share:>10.0%}{seconds:>9.1f}"
        print(f"{node:<24}{cells}")
    for series in tree.series:
        print(f"  ({series} is a series: {', '.join(tree.topic_sections(series))})")

    carry_on_table(app, ear, number)

    print("\nLengths")
    print(f"{'':<44}{'English':>10}{'Hindi':>10}{'target':>8}")
    rows: list[tuple[str, list[float], float]] = []
    rows.append(
        (
            "emergency sentence ends, new caller",
            [safety_seconds(app, ear, k, False, number()) for k, _, _ in LANGS],
            SAFETY_TARGET_S,
        )
    )
    rows.append(
        (
            "emergency sentence ends, returning caller",
            [safety_seconds(app, ear, k, True, number()) for k, _, _ in LANGS],
            SAFETY_TARGET_S,
        )
    )
    firsts_new, firsts_back = [], []
    for lang_key, _, _ in LANGS:
        _, turn, _ = Caller(app, ear, lang_key, False, number()).answer(quick=True)
        firsts_new.append(ear.seconds(turn.heard))
        _, turn, _ = Caller(app, ear, lang_key, True, number()).answer(quick=True)
        firsts_back.append(ear.seconds(turn.heard))
    rows.append(("first main-menu reply, new caller", firsts_new, FIRST_MENU_TARGET_S))
    rows.append(("first main-menu reply, returning caller", firsts_back, FIRST_MENU_TARGET_S))
    keys = []
    helps = []
    for _, lang, _ in LANGS:
        said = wording.key_lines(line, lang, wording.FIRST_CALL_KEYS)
        keys.append(ear.seconds([Heard("Say", t, True, line.prompts(lang).language) for t in said]))
        helps.append(help_seconds(app, ear, lang))
    rows.append(("keys said on a first call", keys, KEYS_TARGET_S))
    rows.append(("longest page of help", [h for h, _ in helps], HELP_TARGET_S))
    for name, values, target in rows:
        print(f"{name:<44}" + "".join(f"{_mark(v, target):>10}" for v in values) + f"{target:>8.0f}")
    print(f"  (longest help: English at {helps[0][1]}; Hindi at {helps[1][1]})")
    ear.speaker.close()
    if render:
        full_s, files, again_s, again_files, ours = render_times()
        print(f"\nfull render: {files} files in {full_s:.1f} s")
        print(
            f"re-render after one topic changed: {again_files} files ({ours} of that topic)"
            f" in {again_s:.2f} s"
        )
        print(f"re-render ratio (re-render time / full render time): {again_s / full_s:.3f}")
    shutil.rmtree(_WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
