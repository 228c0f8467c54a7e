"""Offline text-to-speech: one text to one verified WAV file, with pyttsx3 on espeak-ng."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import wave
from array import array
from pathlib import Path

from ivr.audio import worker

NORMAL_RATE = 150  # words per minute; the plausibility bounds below are for this rate
MIN_SECONDS_PER_WORD = 0.15
MAX_SECONDS_PER_WORD = 1.2
END_PAUSE_SECONDS = 0.6  # espeak adds a pause after the last word, so short texts run long
MIN_PEAK = 500  # of 32767: anything quieter is silence, not speech
_WORKER = Path(worker.__file__).resolve()


class TtsError(RuntimeError):
    """A text could not be rendered to a good WAV file."""


def word_count(text: str) -> int:
    """How many words espeak will speak: runs of letters or digits."""
    return len(re.findall(r"\w+", text))


def plausible_seconds(text: str, rate: int) -> tuple[float, float]:
    """The shortest and longest believable duration of `text` spoken at `rate` words per minute."""
    words = max(word_count(text), 1)
    scale = NORMAL_RATE / rate
    return words * MIN_SECONDS_PER_WORD * scale, (words * MAX_SECONDS_PER_WORD + END_PAUSE_SECONDS) * scale


def wav_seconds(path: Path) -> float:
    """The duration of a WAV file in seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def check_wav(path: Path, text: str, rate: int) -> float:
    """Verify that `path` holds speech of a believable length for `text`; return its seconds."""
    if not path.exists() or path.stat().st_size <= 44:
        raise TtsError(f"{path.name}: no audio was written")
    with path.open("rb") as fh:
        head = fh.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise TtsError(f"{path.name}: not a RIFF/WAVE file")
    try:
        with wave.open(str(path), "rb") as wav:
            width, frames, seconds = wav.getsampwidth(), wav.readframes(wav.getnframes()), wav_seconds(path)
    except (wave.Error, EOFError) as exc:
        raise TtsError(f"{path.name}: unreadable WAV: {exc}") from exc
    if width != 2 or not frames:
        raise TtsError(f"{path.name}: expected 16-bit samples, got {width * 8}-bit, {len(frames)} bytes")
    samples = array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    if max(map(abs, samples)) < MIN_PEAK:
        raise TtsError(f"{path.name}: the audio is silent")
    low, high = plausible_seconds(text, rate)
    if not low <= seconds <= high:
        # Too long usually means audio from another utterance ended up in this file.
        raise TtsError(
            f"{path.name}: {seconds:.2f} s is implausible for {word_count(text)} words at {rate} wpm"
            f" (expected {low:.2f} to {high:.2f} s)"
        )
    return seconds


def _run_worker(text: str, path: Path, rate: int, voice: str | None, timeout: float) -> None:
    job = json.dumps({"text": text, "path": str(path), "rate": rate, "voice": voice, "timeout": timeout})
    try:
        # A fresh process per file: pyttsx3 keeps one engine per driver per process, espeak can
        # only be initialised once per process, runAndWait can hang on a second use or after a
        # fork (nateshmbhat/pyttsx3#126, #131, #194), and a reused engine can carry the end of one
        # utterance into the next file. So no engine is ever reused or shared between threads.
        done = subprocess.run(
            [sys.executable, "-I", str(_WORKER)],
            input=job,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TtsError(f"pyttsx3 did not finish within {timeout:.0f} s") from exc
    detail = " ".join(ln for ln in done.stderr.splitlines() if not ln.startswith("Audio saved to"))[-300:]
    if done.returncode == worker.EXIT_BAD_JOB:
        raise ValueError(f"espeak-ng refused the job: {detail}")
    if done.returncode != 0:
        raise TtsError(f"the pyttsx3 worker failed ({done.returncode}): {detail}")


def synthesize(
    text: str,
    path: Path,
    *,
    rate: int = NORMAL_RATE,
    voice: str | None = None,
    timeout: float | None = None,
) -> float:
    """Render `text` to a WAV at `path` (espeak voice `voice`, `rate` wpm); return its seconds."""
    if not text.strip():
        raise ValueError("nothing to say")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    limit = timeout if timeout is not None else 30.0 + word_count(text)
    problems: list[str] = []
    for _attempt in range(2):  # the second attempt is a fresh process, hence a fresh engine
        # Written aside and moved into place, so a reader never sees half a file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            _run_worker(text, tmp, rate, voice, limit)
            seconds = check_wav(tmp, text, rate)
            os.replace(tmp, path)
            return seconds
        except TtsError as exc:
            problems.append(str(exc).replace(tmp.name, path.name))
        finally:
            tmp.unlink(missing_ok=True)
    raise TtsError(f"could not render {text[:80]!r} to {path} after 2 attempts: " + " | ".join(problems))
