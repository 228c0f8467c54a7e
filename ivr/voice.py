"""The webhook blueprint: thin views that verify, parse, call the engine and render TwiML."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Request, Response, abort, current_app, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr import engine, guard, ratelimit
from ivr.caller import caller
from ivr.engine import LANGUAGE, CallerInput, CallState, Kind, Line, Step
from ivr.logs import STEP_ENVIRON
from ivr.signature import is_loopback, requested_url, verify
from ivr.sms import topic_text
from ivr.store import Store, current_store
from ivr.twiml import SayVoice, Urls, Voice, render

log = logging.getLogger("ivr.voice")
KEPT_LANGUAGE = ("language:default", "language:kept")  # not a choice the caller made
bp = Blueprint("voice", __name__, url_prefix="/voice")
TWIML_CACHE_SIZE = 2048  # rendered steps kept per worker (a few MB)


class Runtime:
    """What the views need, built once per app: the engine line, the voice, the settings."""

    def __init__(self, line: Line, config: dict[str, Any], voice: Voice | None = None) -> None:
        self.line = line
        self.voice: Voice = voice or SayVoice()
        self.timeout = int(config["GATHER_TIMEOUT"])
        self.dial_timeout = int(config["DIAL_TIMEOUT"])
        self.salt = str(config["HASH_SALT"])
        self.clock: Callable[[], datetime] = config.get("CLOCK") or (lambda: datetime.now(UTC))
        self._cached_twiml = functools.lru_cache(maxsize=TWIML_CACHE_SIZE)(self._render)
        # Rendered once at start-up so that an error reply can never fail itself.
        self.safe_reply = self.twiml(self.safe_step())

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
        if step.kind is not Kind.TRANSFER and isinstance(self.voice, SayVoice):
            return self._cached_twiml(step)
        return self._render(step, call_sid)

    def _render(self, step: Step, call_sid: str = "") -> str:
        urls = Urls(
            step=lambda s, extra: _url("/voice/step", s, extra),
            dial=lambda s, extra: _url("/voice/dial", s, extra),
            record=lambda s, extra: _url("/voice/recorded", s, extra),
            hold=lambda s, extra: _url("/voice/hold", s, extra),
            whisper=lambda s, extra: _url("/voice/whisper", s, {**extra, "c": call_sid}),
        )
        response: VoiceResponse = render(
            step,
            self.line.prompts,
            urls=urls,
            voice=self.voice,
            timeout=self.timeout,
            dial_timeout=self.dial_timeout,
        )
        return str(response)


def _url(path: str, state: CallState, extra: Mapping[str, str | None]) -> str:
    query = {**engine.state_to_query(state), **{k: v for k, v in extra.items() if v is not None}}
    return f"{path}?{urlencode(query)}"


def runtime() -> Runtime:
    """The app's runtime (set by create_app)."""
    rt: Runtime = current_app.extensions["ivr"]
    return rt


def _call_sid() -> str:
    return request.form.get("CallSid", "")[:64]


def _reply(step: Step) -> Response:
    """Carry out any effect, log and record each step (the database may be down), then answer."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    extensions = current_app.extensions
    rt: Runtime = extensions["ivr"]
    store: Store = extensions["store"]
    call_sid = req.form.get("CallSid", "")[:64]
    who = caller()
    key = who.key
    steps = [step]
    while step.kind is Kind.EFFECT:  # e.g. send a text, then tell the caller how it went
        outcome, detail = _carry_out(step, key)
        step = engine.next_step(rt.line, step.state, CallerInput(outcome=outcome, detail=detail))
        steps.append(step)
    for done in steps:
        log.debug(
            "call=%s caller=%s event=%s node=%s part=%d",
            call_sid or "-",
            who.ref,
            done.event,
            done.state.node,
            done.state.part,
        )
        if call_sid:
            # A transfer notes the caller's language and speed, for a whisper in a queue later.
            note = f"{done.state.lang} {done.state.rate}" if done.kind is Kind.TRANSFER else None
            store.record_event(call_sid, done.event, done.state.node, done.state.part, note)
    # For the access log line (ivr/logs.py): one line per webhook says what it did.
    req.environ[STEP_ENVIRON] = {
        "CallSid": call_sid or None,
        "caller": who.ref,
        "event": ">".join(done.event for done in steps),
        "node": step.state.node,
        "part": step.state.part,
    }
    if key and step.event.startswith(("language:", "rate:")) and step.event not in KEPT_LANGUAGE:
        # The caller chose: remember it for their next call.
        if step.event.startswith("language:"):
            store.save_prefs(key, language=step.state.lang)
        else:
            store.save_prefs(key, rate=step.state.rate)
    return Response(rt.twiml(step, call_sid), mimetype="text/xml")


def _carry_out(step: Step, key: str | None) -> tuple[tuple[str, str], str]:
    """Do what an EFFECT step asks: ((what, how it went), detail for the caller)."""
    rt = runtime()
    number = caller().number
    what = step.effect or ""
    if key is None:
        return (what, "no_number"), ""
    if what == "sms":
        prompts = rt.line.prompts(step.state.lang)
        body = topic_text(rt.line, step.state.node, prompts, step.state.lang)
        return ("sms", current_app.extensions["sms"].send(_call_sid(), number, body)), ""
    saved = current_store().add_callback(
        _call_sid(), key, number, specialty=step.specialty, language=step.state.lang
    )
    return ("callback", "saved" if saved is not None else "failed"), number[-4:]


@bp.before_request
def _admit() -> Response | None:
    """Before every webhook: clear 4xx for a malformed request, the rate limits, Twilio's signature."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    guard.check_webhook(req)
    limits: ratelimit.RateLimits | None = app.extensions.get("ratelimit")
    if limits is not None:
        refused = ratelimit.limit_ip(req, limits)
        if refused is not None:  # before the signature: a flood of forged requests is shed cheaply
            return refused
    _check_signature(req, app.config)
    if limits is not None:
        return ratelimit.limit_caller(req, limits, caller())
    return None


def _check_signature(req: Request, cfg: Mapping[str, Any]) -> None:
    if cfg["DEV_SKIP_SIGNATURE"] and is_loopback(req.remote_addr):
        log.warning("SIGNATURE CHECK SKIPPED (IVR_DEV_SKIP_SIGNATURE=1) for %s", req.path)
        return
    verdict = verify(
        requested_url(req, cfg["PUBLIC_BASE_URL"]),
        req.form,
        req.headers,
        auth_token=cfg["TWILIO_AUTH_TOKEN"],
        shared_keys=cfg["SHARED_KEYS"],
    )
    if not verdict.ok:
        log.warning("rejected %s %s: %s", req.method, req.path, verdict.reason)
        abort(403)


@bp.post("")
def incoming() -> Response:
    """Twilio's voice URL: a new call starts here, in the caller's language and speed if known."""
    key = caller().key
    store = current_store()
    prefs = store.get_prefs(key) if key else None
    step = engine.start(
        runtime().line,
        prefs.language if prefs else None,
        prefs.rate if prefs else None,
        returning=prefs is not None and prefs.language is not None,
    )
    call_sid = _call_sid()
    if call_sid:
        store.call_started(call_sid, key, None if step.state.node == LANGUAGE else step.state.lang)
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


def _with_state(view: Callable[[CallState], Response]) -> Callable[[], Response]:
    """Give a view the call state from its URL; a missing or broken one restarts at the main menu."""

    @functools.wraps(view)
    def wrapped() -> Response:
        rt = runtime()
        state = engine.state_from_query(rt.line, request.args)
        if state is None:
            log.warning("bad call state in %s; returning caller to the main menu", request.full_path[:200])
            return _reply(rt.safe_step())
        return view(state)

    return wrapped


@bp.post("/step")
@_with_state
def step(state: CallState) -> Response:
    """A Gather's action (keys or speech) or its no-input fallback (t=1)."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    form, rt = req.form, runtime()
    inp = CallerInput(
        digits=form.get("Digits", "").strip()[:32],
        speech=_heard(form.get("SpeechResult", "")),
        silent=req.args.get("t") == "1",
        now=rt.clock(),
        confidence=_confidence(form.get("Confidence", "")),
    )
    return _reply(engine.next_step(rt.line, state, inp))


SPEECH_KEPT = 1000  # characters kept from each end of a long SpeechResult


def _heard(text: str) -> str:
    """What a caller said, bounded: a long account keeps its start and its end, where "...and now
    she is not breathing" comes (at most 2 x SPEECH_KEPT characters are understood)."""
    if len(text) <= 2 * SPEECH_KEPT:
        return text
    return f"{text[:SPEECH_KEPT]} {text[-SPEECH_KEPT:]}"


def _confidence(raw: str) -> float | None:
    """Twilio's Confidence in a SpeechResult (0 to 1); None when missing or not a number."""
    try:
        value = float(raw[:16])
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


# How an <Enqueue> ended, as the outcome of a <Dial> would put it.
QUEUE_RESULTS = {"bridged": "completed", "hangup": "completed", "leave": "no-answer"}


@bp.post("/dial")
@_with_state
def dial(state: CallState) -> Response:
    """A <Dial> or <Enqueue> action: the transfer ended; bring the caller back unless it was answered."""
    status = request.form.get("DialCallStatus", "")[:32]
    if not status and "QueueResult" in request.form:
        status = QUEUE_RESULTS.get(request.form["QueueResult"], "failed")
    inp = CallerInput(dial_status=status or "failed", now=runtime().clock())
    return _reply(engine.next_step(runtime().line, state, inp))


@bp.post("/recorded")
@_with_state
def recorded(state: CallState) -> Response:
    """A <Record> action (or its no-audio fallback): keep the question and tell the caller."""
    url = request.form.get("RecordingUrl", "")[:500]
    try:
        seconds = int(request.form.get("RecordingDuration", "0"))
    except ValueError:
        seconds = 0
    if request.args.get("empty") == "1" or not url.startswith("https://") or seconds <= 0:
        result = "empty"
    else:
        specialty = engine.specialty_for_state(runtime().line, state)
        saved = current_store().add_recording(_call_sid(), url, duration_seconds=seconds, specialty=specialty)
        result = "saved" if saved is not None else "failed"
    return _reply(engine.next_step(runtime().line, state, CallerInput(outcome=("record", result))))


@bp.post("/hold")
def hold() -> Response:
    """What a caller in a queue hears; Twilio asks again when it has been said."""
    state = engine.state_from_query(runtime().line, request.args)
    lang = state.lang if state else runtime().line.content.default_language
    response = VoiceResponse()
    prompts = runtime().line.prompts(lang)
    runtime().voice.speak(response, prompts.phrases.queue_wait, prompts, state.rate if state else "normal")
    response.pause(length=20)
    return Response(str(response), mimetype="text/xml")


@bp.post("/whisper")
def whisper() -> Response:
    """Said to the specialist who answers, before the caller is put through: who is calling, and why."""
    state = engine.state_from_query(runtime().line, request.args)
    response = VoiceResponse()
    _say_whisper(response, request.args.get("c", "")[:64], state)
    return Response(str(response), mimetype="text/xml")


@bp.post("/agent")
def agent() -> Response:
    """An agent's phone for a queue specialty: the whisper of the caller waiting longest, then them."""
    line = runtime().line
    queue = request.args.get("queue", "")
    directory = line.directory
    specialty = next(
        (sid for sid, e in (directory.file.specialties.items() if directory else []) if e.queue == queue),
        None,
    )
    if specialty is None:
        log.warning("agent line for an unknown queue %r", queue[:64])
        abort(404)
    response = VoiceResponse()
    waiting = current_store().oldest_waiting(f"transfer:{specialty}")
    if waiting:
        events = current_store().events_for(waiting)
        lang, _, rate = (events[-1].detail or "").partition(" ") if events else ("", "", "")
        known = lang in line.content.prompts and rate in engine.RATES
        _say_whisper(
            response, waiting, CallState(line.content.tree.root, lang=lang, rate=rate) if known else None
        )
    dial = Dial()
    dial.queue(queue)
    response.append(dial)
    return Response(str(response), mimetype="text/xml")


def _say_whisper(response: VoiceResponse, caller_sid: str, state: CallState | None) -> None:
    """The whisper, in the staff's language: the caller's language, speed and topics heard."""
    line = runtime().line
    staff = line.prompts(line.content.default_language)
    topics = ", ".join(_topics_heard(caller_sid) if caller_sid else []) or staff.phrases.whisper_no_topics
    language = line.prompts(state.lang).display_name if state else "-"
    rate = staff.rate_names[state.rate] if state else "-"  # type: ignore[index]
    text = staff.phrases.whisper.format(language=language, rate=rate, topics=topics)
    runtime().voice.speak(response, text, staff, "normal")


def _topics_heard(call_sid: str) -> list[str]:
    """Titles of the topics a call has reached so far, in the staff's language, in order."""
    line = runtime().line
    tree = line.content.tree
    lang = line.content.default_language
    seen = dict.fromkeys(
        e.node for e in current_store().events_for(call_sid) if e.node in tree.sections and e.part == 0
    )
    return [tree.section(node, lang).title.rstrip(".") for node in seen]


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
