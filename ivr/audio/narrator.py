"""<Play> of pre-rendered audio, with <Say> for sentences that have none."""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.audio.cache import AudioSettings, cached
from ivr.content.models import Prompts
from ivr.twiml import Narrator, SayNarrator


class PlayNarrator:
    """Plays a sentence's cached WAV from `base_url`/audio/, or falls back to another narrator (<Say>)."""

    def __init__(self, base_url: str, settings: AudioSettings, fallback: Narrator | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.fallback: Narrator = fallback or SayNarrator()

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts, rate: str) -> None:
        """Append a <Play> of the audio of `text` at `rate`, or the fallback's verb when it has none."""
        # Looked up on every request, so audio rendered while the app runs is used at once.
        path = cached(text, prompts, self.settings, rate)
        if path is None:
            self.fallback.speak(verb, text, prompts, rate)
        else:
            verb.play(f"{self.base_url}/audio/{path.name}")
