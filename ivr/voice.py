"""The webhook blueprint: thin views that verify, parse, call the engine and render TwiML."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ivr import engine
from ivr.engine import LANGUAGE, CallerInput, CallState, Line, Step
from ivr.privacy import caller_hash, caller_ref
from ivr.signature import is_loopback, verify
from ivr.store import current_store
from ivr.twiml import SayVoice, Voice, render

log = logging.getLogger("ivr.voice")
_PHONE = re.compile(r"\+?[0-9]{6,15}")  # E.164-ish; Twilio sends "anonymous" etc. for withheld numbers
KEPT_LANGUAGE = ("language:default", "language:kept")  # not a choice the caller made
bp = Blueprint("voice", __name__, url_prefix="/voice")


class Runtime:
    """What the views need, built once per app: the engine line, the voice, the settings."""

    def __init__(self, line: Line, config: dict[str, Any], voice: Voice | None = None) -> None:
        self.line = line
        self.voice: Voice = voice or SayVoice()
        self.timeout = int(config["GATHER_TIMEOUT"])
        self.dial_timeout = int(config["DIAL_TIMEOUT"])
        self.salt = str(config["HASH_SALT"])
        # Rendered once at start-up so that an error reply can never fail itself.
        self.safe_reply = self.twiml(self.safe_step())

    def safe_step(self) -> Step:
        """Sorry, a person if there is one, then the main menu: the reply when anything went wrong."""
        state = CallState(node=self.line.content.tree.root, lang=self.line.content.default_language)
        p = self.line.prompts(state.lang).phrases
        person = (p.final_person,) if self.line.operator_number else ()
        step = engine.next_step(self.line, state, CallerInput(digits="#"))
        return replace(step, say=(p.state_lost, *person, *step.say), event="error")

    def twiml(self, step: Step) -> str:
        """Render a step to a TwiML string."""
        response: VoiceResponse = render(
            step,
            self.line.prompts,
            step_url=lambda s, extra: _url("/voice/step", s, extra),
            dial_url=lambda s, extra: _url("/voice/dial", s, extra),
            voice=self.voice,
            timeout=self.timeout,
            dial_timeout=self.dial_timeout,
        )
        return str(response)


def _url(path: str, state: CallState, extra: dict[str, str]) -> str:
    return f"{path}?{urlencode({**engine.state_to_query(state), **extra})}"


def runtime() -> Runtime:
    """The app's runtime (set by create_app)."""
    rt: Runtime = current_app.extensions["ivr"]
    return rt


def _caller_key() -> str | None:
    """The stored pseudonym of the caller's number; None when the number is withheld or odd."""
    number = request.form.get("From", "").strip()
    if not _PHONE.fullmatch(number):
        return None
    return caller_hash(number, runtime().salt)


def _call_sid() -> str:
    return request.form.get("CallSid", "")[:64]


def _reply(step: Step) -> Response:
    """Log and record the step (the database may be down: the caller is answered regardless)."""
    rt = runtime()
    call_sid = _call_sid()
    log.info(
        "call=%s caller=%s event=%s node=%s part=%d",
        call_sid or "-",
        caller_ref(request.form.get("From"), rt.salt),
        step.event,
        step.state.node,
        step.state.part,
    )
    store = current_store()
    if call_sid:
        store.record_event(call_sid, step.event, step.state.node, step.state.part)
    key = _caller_key()
    if key and step.event.startswith(("language:", "rate:")) and step.event not in KEPT_LANGUAGE:
        # The caller chose: remember it for their next call.
        if step.event.startswith("language:"):
            store.save_prefs(key, language=step.state.lang)
        else:
            store.save_prefs(key, rate=step.state.rate)
    return Response(rt.twiml(step), mimetype="text/xml")


@bp.before_request
def _check_signature() -> None:
    cfg = current_app.config
    if cfg["DEV_SKIP_SIGNATURE"] and is_loopback(request.remote_addr):
        log.warning("SIGNATURE CHECK SKIPPED (IVR_DEV_SKIP_SIGNATURE=1) for %s", request.path)
        return
    url = request.url
    if cfg["PUBLIC_BASE_URL"]:
        url = cfg["PUBLIC_BASE_URL"] + request.full_path.rstrip("?")
    verdict = verify(
        url,
        request.form,
        request.headers,
        auth_token=cfg["TWILIO_AUTH_TOKEN"],
        shared_keys=cfg["SHARED_KEYS"],
    )
    if not verdict.ok:
        log.warning("rejected %s %s: %s", request.method, request.path, verdict.reason)
        abort(403)


@bp.post("")
def incoming() -> Response:
    """Twilio's voice URL: a new call starts here, in the caller's language and speed if known."""
    key = _caller_key()
    prefs = current_store().get_prefs(key) if key else None
    step = engine.start(
        runtime().line,
        prefs.language if prefs else None,
        prefs.rate if prefs else None,
        returning=prefs is not None and prefs.language is not None,
    )
    if _call_sid():
        current_store().call_started(
            _call_sid(), key, None if step.state.node == LANGUAGE else step.state.lang
        )
    return _reply(step)


@bp.post("/status")
def status() -> Response:
    """Twilio's status callback: the call ended; record how and how long."""
    call_sid = _call_sid()
    try:
        duration: int | None = int(request.form.get("CallDuration", ""))
    except ValueError:
        duration = None
    if call_sid:
        current_store().call_ended(call_sid, request.form.get("CallStatus", "unknown")[:32], duration)
    return Response(status=204)


def _state_or_restart() -> tuple[CallState | None, Step | None]:
    rt = runtime()
    state = engine.state_from_query(rt.line, request.args)
    if state is None:
        log.warning("bad call state in %s; returning caller to the main menu", request.full_path[:200])
        return None, rt.safe_step()
    return state, None


@bp.post("/step")
def step() -> Response:
    """A Gather's action (keys or speech) or its no-input fallback (t=1)."""
    state, fallback = _state_or_restart()
    if state is None:
        assert fallback is not None
        return _reply(fallback)
    inp = CallerInput(
        digits=request.form.get("Digits", "").strip()[:32],
        speech=request.form.get("SpeechResult", "")[:500],
        silent=request.args.get("t") == "1",
    )
    return _reply(engine.next_step(runtime().line, state, inp))


@bp.post("/dial")
def dial() -> Response:
    """A <Dial>'s action: the transfer ended; bring the caller back unless it was answered."""
    state, fallback = _state_or_restart()
    if state is None:
        assert fallback is not None
        return _reply(fallback)
    status = request.form.get("DialCallStatus", "failed")[:32] or "failed"
    return _reply(engine.next_step(runtime().line, state, CallerInput(dial_status=status)))


@bp.post("/fallback")
def fallback() -> Response:
    """Twilio's fallback URL, called when a webhook failed: apologise, offer a person, main menu."""
    log.error(
        "Twilio fell back: call=%s error=%s url=%s",
        request.form.get("CallSid", "-")[:64],
        request.form.get("ErrorCode", "-")[:16],
        request.form.get("ErrorUrl", "-")[:200],
    )
    return Response(runtime().safe_reply, mimetype="text/xml")


@bp.errorhandler(Exception)
def _on_error(exc: Exception) -> Response:
    """Any unexpected failure: apologise and offer the main menu rather than Twilio's error."""
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        return exc  # type: ignore[return-value]
    log.exception("webhook failed on %s; sent the safe reply", request.path)
    return Response(runtime().safe_reply, mimetype="text/xml")
