"""The phone line's runtime, built once per app: the engine line, the narrator, and the TwiML cache.

A `Runtime` renders engine steps to TwiML strings (cached: callers hear the same steps again and
again) with the URLs Twilio calls back, each carrying the call state (ivr/engine/codec.py). Every
such URL starts with the line's public path (`root_for`): the path of PUBLIC_BASE_URL, else the path
the app is mounted at (WSGI's SCRIPT_NAME), so that a line served under /ivr is called back there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from twilio.twiml.voice_response import VoiceResponse

from ivr import engine
from ivr.engine import CallerInput, CallState, Kind, Line, Step
from ivr.twiml import Narrator, SayNarrator, Urls, busy_reply, render

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
        # The path of PUBLIC_BASE_URL ("" for an origin alone); None: the request's own mount point.
        public = config.get("PUBLIC_BASE_URL")
        self.public_path: str | None = urlsplit(public).path.rstrip("/") if public else None
        self._cached_twiml = functools.lru_cache(maxsize=TWIML_CACHE_SIZE)(self._render)
        # Rendered at start-up (under the path the settings name) so that an error reply can never
        # fail itself; one mounted elsewhere is the same document with other URLs.
        self._safe_replies = functools.lru_cache(maxsize=8)(self._render_safe)
        self.safe_reply(self.root_for(str(config.get("SCRIPT_NAME") or "")))
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

    def root_for(self, script_root: str) -> str:
        """The path every URL handed to Twilio starts with ("" or "/ivr"): PUBLIC_BASE_URL's path
        when it is set (what Twilio calls, whatever a proxy makes of it), else `script_root`, the
        path the app is mounted at in this request (WSGI's SCRIPT_NAME, werkzeug's root_path)."""
        if self.public_path is not None:
            return self.public_path
        return quote(script_root.rstrip("/"))

    def safe_reply(self, root: str = "") -> str:
        """Sorry, a person or a call back, then the main menu (`safe_step`), as TwiML under `root`."""
        return self._safe_replies(root)

    def _render_safe(self, root: str) -> str:
        return self.twiml(self.safe_step(), root=root)

    def twiml(self, step: Step, call_sid: str = "", root: str = "") -> str:
        """Render a step to a TwiML string, its URLs under `root` (`root_for`); the same step renders
        the same (but for a transfer's call)."""
        # Operations: rendering is much of a webhook's time, and callers hear the same steps again and
        # again. Not cached: a transfer (its whisper URL names the call), and <Play> audio (looked up on
        # every request, so that audio rendered while the line runs is used at once).
        if step.kind is not Kind.TRANSFER and isinstance(self.narrator, SayNarrator):
            return self._cached_twiml(step, "", root)
        return self._render(step, call_sid, root)

    def busy_twiml(self, lang: str) -> str:
        """TwiML for a refused request: the line is busy, try again later, goodbye; in `lang` when the
        line has it (a query parameter, so anything), else in the default language."""
        return self._busy.get(lang) or self._busy[self.line.content.default_language]

    def _render_busy(self, lang: str) -> str:
        return busy_reply(self.line.prompts(lang), self.narrator)

    def _render(self, step: Step, call_sid: str = "", root: str = "") -> str:
        voice = f"{root}/voice"
        # When a caller is put in a queue: the hold and the <Enqueue> action measure the wait from it
        # even if Twilio's QueueTime is missing (a transfer is rendered afresh each time, never cached).
        queued = {"t0": str(int(self.clock().timestamp()))} if step.queue else {}
        urls = Urls(
            step=lambda s, extra: step_url(f"{voice}/step", s, extra),
            dial=lambda s, extra: step_url(f"{voice}/dial", s, {**extra, **queued}),
            record=lambda s, extra: step_url(f"{voice}/recorded", s, extra),
            hold=lambda s, extra: step_url(f"{voice}/hold", s, {**extra, **queued}),
            whisper=lambda s, extra: step_url(f"{voice}/whisper", s, {**extra, "c": call_sid}),
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
