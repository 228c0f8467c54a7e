"""What the simulated caller hears: each sentence's audio, measured from the shared WAV cache, and played."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from ivr.audio import cache, tts
from ivr.audio.cache import AudioSettings
from ivr.simulator.phone import Heard
from ivr.twiml import PROSODY

_SAY_WORKER = Path(__file__).with_name("say_worker.py")
Fetch = Callable[[str], "tuple[int, bytes] | None"]


def sound_output() -> str | None:
    """Why pyttsx3 cannot play sound on this machine, or None when it can."""
    if sys.platform == "win32":
        return None
    if sys.platform == "darwin":
        return None if shutil.which("afplay") else "afplay is missing"
    # On Linux pyttsx3's espeak driver plays through `aplay`, and ignores its failure silently.
    if shutil.which("aplay") is None:
        return "no aplay (pyttsx3 plays through it)"
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")
    servers = [runtime / "pulse" / "native", runtime / "pipewire-0"]
    if os.environ.get("PULSE_SERVER") or any(p.exists() for p in servers):
        return None
    snd = Path("/dev/snd")
    if snd.is_dir() and any(p.name.startswith("pcm") and p.name.endswith("p") for p in snd.iterdir()):
        return None
    return "no sound output device"


@dataclass(frozen=True)
class Voiced:
    """One heard sentence: what it says, its audio length (None if unknown), and any problem."""

    text: str
    seconds: float | None
    problem: str | None = None


class Loudspeaker:
    """Measures (and optionally plays) each sentence, reusing the line's audio cache."""

    def __init__(
        self,
        settings: AudioSettings,
        *,
        measure: bool = True,
        play: bool = False,
        fetch: Fetch | None = None,
        names: Mapping[str, str] | None = None,
        default_language: str = "",
    ) -> None:
        self.settings = settings
        self.measure = measure
        self.fetch = fetch
        self.names = dict(names or {})  # cache file name -> sentence, to show what a <Play> says
        self.default_language = default_language
        self.silent_because: str | None = None
        if play:
            self.silent_because = sound_output()
        self.play = play and self.silent_because is None
        self._seconds: dict[tuple[str, str, int], float] = {}
        self._downloads = Path(tempfile.mkdtemp(prefix="ivr-call-"))
        self.rendered = 0  # sentences this loudspeaker had to render (not found in the cache)

    def close(self) -> None:
        """Remove downloaded audio."""
        shutil.rmtree(self._downloads, ignore_errors=True)

    def voice(self, heard: Heard) -> Voiced:
        """Measure one heard sentence (rendering it into the cache if needed) and play it if asked."""
        if not self.measure and not self.play:
            shown = self.names.get(_file_name(heard.text), heard.text) if heard.verb == "Play" else heard.text
            return Voiced(shown, None)
        if heard.verb == "Play":
            return self._play_verb(heard)
        return self._say_verb(heard)

    def wpm(self, prosody_rate: str | None) -> int:
        """Words per minute of a <Say>, as the audio cache renders its prosody rate."""
        if prosody_rate is None:
            return self.settings.rate
        named = {percent: name for name, percent in PROSODY.items()}.get(prosody_rate)
        if named is not None:
            return cache.rate_wpm(self.settings, named)
        try:  # a line elsewhere may use other percentages
            return round(self.settings.rate * float(prosody_rate.rstrip("%")) / 100)
        except ValueError:
            return self.settings.rate

    def _say_verb(self, heard: Heard) -> Voiced:
        language = heard.language or self.default_language
        settings = replace(self.settings, rate=self.wpm(heard.prosody_rate))
        path = settings.audio_dir / f"{cache.audio_key(heard.text, language, settings)}.wav"
        memo = (heard.text, language, settings.rate)
        try:
            if memo not in self._seconds:
                if not path.is_file():
                    voice = cache.voice_for(language, settings)
                    tts.synthesize(heard.text, path, rate=settings.rate, voice=voice)
                    self.rendered += 1
                    self.names[path.name] = heard.text
                self._seconds[memo] = tts.wav_seconds(path)
        except (tts.TtsError, ValueError, OSError, wave.Error) as exc:
            return Voiced(heard.text, None, f"could not render: {exc}")
        problem = self._speak(heard.text) if self.play else None
        return Voiced(heard.text, self._seconds[memo], problem)

    def _play_verb(self, heard: Heard) -> Voiced:
        url = heard.text
        name = _file_name(url)
        text = self.names.get(name, url)
        local = self.settings.audio_dir / name
        if not (cache.FILE_NAME.fullmatch(name) and local.is_file()):
            local = self._downloads / (name or "audio.wav")
            got = self.fetch(url) if self.fetch else None
            if got is None:
                return Voiced(text, None, "cannot fetch audio with this transport")
            status, body = got
            if status != 200:
                return Voiced(text, None, f"HTTP {status} fetching {url}")
            local.write_bytes(body)
        try:
            seconds = tts.wav_seconds(local)
        except (wave.Error, EOFError, OSError) as exc:
            return Voiced(text, None, f"not a WAV: {exc}")
        problem = _play_file(local) if self.play else None
        return Voiced(text, seconds, problem)

    def _speak(self, text: str) -> str | None:
        """Say a sentence aloud with pyttsx3 in a fresh process; a reason if it could not."""
        job = json.dumps({"text": text, "rate": self.settings.rate, "voice": self.settings.voice})
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(_SAY_WORKER)],
                input=job,
                capture_output=True,
                text=True,
                timeout=30 + tts.word_count(text),
                check=False,
            )
        except subprocess.TimeoutExpired:
            return self._give_up("pyttsx3 did not finish speaking")
        # pyttsx3 reports a failed aplay only as text on stderr.
        if done.returncode != 0 or "not found" in done.stderr or "error" in done.stderr.lower():
            return self._give_up(done.stderr.strip()[-200:] or f"pyttsx3 exited {done.returncode}")
        return None

    def _give_up(self, reason: str) -> str:
        self.play = False
        self.silent_because = reason
        return f"playback stopped: {reason}"


def _file_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def _play_file(path: Path) -> str | None:
    """Play a WAV on the sound device with the player pyttsx3 itself would use."""
    if sys.platform == "win32":
        import winsound

        winsound.PlaySound(str(path), winsound.SND_FILENAME)
        return None
    player = ["afplay", str(path)] if sys.platform == "darwin" else ["aplay", "-q", str(path)]
    try:
        done = subprocess.run(player, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not play: {exc}"
    return None if done.returncode == 0 else f"could not play: {done.stderr.decode(errors='replace')[-200:]}"
