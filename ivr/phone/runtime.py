"""The phone line's runtime, built once per app: the engine line, the narrator, and the TwiML cache.

A `Runtime` renders engine steps to TwiML strings (cached: callers hear the same steps again and
again) with the URLs Twilio calls back, each carrying the call state (ivr/engine/codec.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from ivr import engine
from ivr.engine import CallerInput, CallState, Kind, Line, Step
from ivr.twiml import Narrator, SayNarrator, Urls, render

TWIML_CACHE_SIZE = 2048  # rendered steps kept per worker (a few MB)


class Runtime:
    """What the views need, built once per app: the engine line, the narrator, the settings."""

    def __init__(self, line: Line, config: dict[str, Any], narrator: Narrator | None = None) -> None:
        self.line = line
        self.narrator: Narrator = narrator or SayNarrator()
        self.timeout = int(config["GATHER_TIMEOUT"])
        self.dial_timeout = int(config["DIAL_TIMEOUT"])
        self.queue_max_wait = int(config["QUEUE_MAX_WAIT"])
        self.salt = str(config["HASH_SALT"])
        self.clock: Callable[[], datetime] = config.get("CLOCK") or (lambda: datetime.now(UTC))
        self._cached_twiml = functools.lru_cache(maxsize=TWIML_CACHE_SIZE)(self._render)
        # Rendered once at start-up so that an error reply can never fail itself.
        self.safe_reply = self.twiml(self.safe_step())
        self._busy = {lang: self._render_busy(lang) for lang in line.content.prompts}

    def safe_step(self) -> Step:
        """Sorry, a person or a call back, then the main menu: the reply when anything went wrong."""
        flags = engine.CHOSEN | engine.GREETED | engine.SAFETY
        state = CallState(
            node=self.line.content.tree.root, lang=self.line.content.default_language, flags=flags
        )
        p = self.line.prompts(state.lang).phrases
        step = engine.next_step(self.line, state, CallerInput(digits="9"))
        return replace(step, say=(p.state_lost, p.offer_person, *step.say), event="error")

    def twiml(self, step: Step, call_sid: str = "") -> str:
        """Render a step to a TwiML string; the same step renders the same (but for a transfer's call)."""
        # Operations: rendering is much of a webhook's time, and callers hear the same steps again and
        # again. Not cached: a transfer (its whisper URL names the call), and <Play> audio (looked up on
        # every request, so that audio rendered while the line runs is used at once).
        if step.kind is not Kind.TRANSFER and isinstance(self.narrator, SayNarrator):
            return self._cached_twiml(step)
        return self._render(step, call_sid)

    def busy_twiml(self, lang: str) -> str:
        """TwiML for a refused request: the line is busy, try again later, goodbye; in `lang` when the
        line has it (a query parameter, so anything), else in the default language."""
        return self._busy.get(lang) or self._busy[self.line.content.default_language]

    def _render_busy(self, lang: str) -> str:
        response = VoiceResponse()
        prompts = self.line.prompts(lang)
        self.narrator.speak(response, prompts.phrases.busy, prompts, "normal")
        response.hangup()
        return str(response)

    def _render(self, step: Step, call_sid: str = "") -> str:
        # When a caller is put in a queue: the hold and the <Enqueue> action measure the wait from it
        # even if Twilio's QueueTime is missing (a transfer is rendered afresh each time, never cached).
        queued = {"t0": str(int(self.clock().timestamp()))} if step.queue else {}
        urls = Urls(
            step=lambda s, extra: step_url("/voice/step", s, extra),
            dial=lambda s, extra: step_url("/voice/dial", s, {**extra, **queued}),
            record=lambda s, extra: step_url("/voice/recorded", s, extra),
            hold=lambda s, extra: step_url("/voice/hold", s, {**extra, **queued}),
            whisper=lambda s, extra: step_url("/voice/whisper", s, {**extra, "c": call_sid}),
        )
        response: VoiceResponse = render(
            step,
            self.line.prompts,
            urls=urls,
            narrator=self.narrator,
            timeout=self.timeout,
            dial_timeout=self.dial_timeout,
        )
        return str(response)


def step_url(path: str, state: CallState, extra: Mapping[str, str | None]) -> str:
    """`path` with the call state and `extra` (None values left out) as its query string."""
    query = {**engine.state_to_query(state), **{k: v for k, v in extra.items() if v is not None}}
    return f"{path}?{urlencode(query)}"
