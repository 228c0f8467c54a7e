"""The audio cache: one WAV per fixed sentence, named by a hash of what it sounds like."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ivr.audio import tts
from ivr.audio.catalog import Sentence, sentences
from ivr.content import Content
from ivr.content.models import Prompts
from ivr.engine import RATES, Line
from ivr.twiml import PROSODY

# Part of every file's hash: bump it when rendering changes, and everything is rendered again.
# /3: a render made before could be at the wrong rate (ivr/audio/worker.py now sets the rate and
# waits for espeak to apply it before rendering), so those are made again rather than trusted.
CACHE_FORMAT = "pyttsx3-espeak-ng/3"
FILE_NAME = re.compile(r"[0-9a-f]{64}\.wav")
_LEFTOVER = re.compile(r"\.[0-9a-f]{64}\.wav\.\d+\.[0-9a-f]+\.tmp")  # from an interrupted render


@dataclass(frozen=True)
class AudioSettings:
    """Where the audio lives and how it is spoken."""

    audio_dir: Path
    rate: int = tts.NORMAL_RATE
    voice: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AudioSettings:
        """The settings in an app's config (AUDIO_DIR, TTS_RATE, TTS_VOICE)."""
        return cls(
            audio_dir=Path(config["AUDIO_DIR"]).resolve(),
            rate=int(config["TTS_RATE"]),
            voice=config.get("TTS_VOICE") or None,
        )


def rate_wpm(settings: AudioSettings, rate: str = "normal") -> int:
    """Words per minute for a caller's rate (normal, slow, fast), scaled as <Say>'s prosody is."""
    percent = PROSODY.get(rate)
    return round(settings.rate * float(percent.rstrip("%")) / 100) if percent else settings.rate


def voice_for(language: str, settings: AudioSettings) -> str:
    """The espeak-ng voice for a language ("hi-IN" -> "hi"); TTS_VOICE overrides its own language only."""
    primary = language.split("-")[0].lower()
    if settings.voice and settings.voice.split("-")[0].lower() == primary:
        return settings.voice
    return primary


def audio_key(text: str, language: str, settings: AudioSettings) -> str:
    """The sha256 that names the audio of `text` in `language` with these voice settings."""
    identity = [CACHE_FORMAT, text, voice_for(language, settings), settings.rate, language]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()


def path_for(text: str, prompts: Prompts, settings: AudioSettings, rate: str = "normal") -> Path:
    """Where the WAV of `text`, spoken with these prompts, settings and caller rate, is (or would be)."""
    at_rate = replace(settings, rate=rate_wpm(settings, rate))
    return settings.audio_dir / f"{audio_key(text, prompts.language, at_rate)}.wav"


def cached(text: str, prompts: Prompts, settings: AudioSettings, rate: str = "normal") -> Path | None:
    """The WAV of `text` if it has been rendered, else None."""
    path = path_for(text, prompts, settings, rate)
    return path if path.is_file() else None


@dataclass(frozen=True)
class Item:
    """A sentence at one caller rate, and the file its audio belongs in."""

    sentence: Sentence
    path: Path
    rate: str = "normal"
    wpm: int = tts.NORMAL_RATE
    voice: str | None = None


@dataclass(frozen=True)
class Plan:
    """Every fixed sentence of the content, and which of them have no audio yet."""

    items: list[Item]
    missing: list[Item]


def plan(source: Line | Content, settings: AudioSettings, rates: tuple[str, ...] = RATES) -> Plan:
    """Work out the file of every fixed sentence at every caller rate, and which files are missing."""
    content = source.content if isinstance(source, Line) else source
    fixed = sentences(source)
    items = [
        Item(
            s,
            path_for(s.text, content.prompts[s.lang], settings, rate),
            rate,
            rate_wpm(settings, rate),
            voice_for(content.prompts[s.lang].language, settings),
        )
        for rate in rates
        for s in fixed
    ]
    return Plan(items=items, missing=[i for i in items if not i.path.is_file()])


@dataclass
class Report:
    """What a render did."""

    rendered: list[Item] = field(default_factory=list)
    cached: int = 0
    failed: list[tuple[Item, str]] = field(default_factory=list)
    seconds: float = 0.0  # of audio, over every sentence that has audio now
    elapsed: float = 0.0  # wall-clock seconds the render took
    pruned: int = 0


def render(
    todo: Plan,
    settings: AudioSettings,
    *,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Render every missing file of a plan; `progress(1)` is called as each one finishes."""
    started = time.monotonic()
    report = Report(cached=len(todo.items) - len(todo.missing))
    settings.audio_dir.mkdir(parents=True, exist_ok=True)
    # Threads only wait here: every synthesis runs in its own process (see tts.synthesize).
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futures = {
            pool.submit(tts.synthesize, i.sentence.text, i.path, rate=i.wpm, voice=i.voice): i
            for i in todo.missing
        }
        for future in as_completed(futures):
            item = futures[future]
            exc = future.exception()
            if isinstance(exc, tts.TtsError):
                report.failed.append((item, str(exc)))
            elif exc is not None:
                # A bad setting (e.g. an unknown voice) fails every file alike: stop now.
                pool.shutdown(cancel_futures=True)
                raise exc
            else:
                report.rendered.append(item)
            if progress:
                progress(1)
    report.seconds = sum(tts.wav_seconds(i.path) for i in todo.items if i.path.is_file())
    report.elapsed = time.monotonic() - started
    return report


def prune(todo: Plan, settings: AudioSettings) -> int:
    """Delete cached WAVs that no item of the plan uses (other voices' and rates' files too)."""
    keep = {i.path.name for i in todo.items}
    removed = 0
    if not settings.audio_dir.is_dir():
        return 0
    for path in settings.audio_dir.iterdir():
        # Only files this cache made, in case AUDIO_DIR points somewhere shared.
        stale = FILE_NAME.fullmatch(path.name) and path.name not in keep
        # Leftovers are only removed once old, so a render running alongside keeps its files.
        leftover = _LEFTOVER.fullmatch(path.name) and time.time() - path.stat().st_mtime > 600
        if stale or leftover:
            path.unlink()
            removed += 1
    return removed


def render_all(
    source: Line | Content,
    settings: AudioSettings,
    *,
    rates: tuple[str, ...] = RATES,
    jobs: int | None = None,
    remove_stale: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Render every fixed sentence that has no audio yet; optionally delete stale files."""
    todo = plan(source, settings, rates)
    report = render(todo, settings, jobs=jobs, progress=progress)
    if remove_stale:
        # Against every rate, so rendering one rate never deletes the others' audio.
        report.pruned = prune(todo if rates == RATES else plan(source, settings), settings)
    return report
