"""The voice webhooks Twilio calls during a call: thin views that parse, call the engine and reply.

Every request is admitted first (ivr/phone/admission.py: size, rate limits, signature); the views
turn Twilio's form into a `CallerInput`, ask the engine (ivr/engine) for the next step, carry out
any effect (ivr/phone/effects.py), record the journey, and reply with the runtime's TwiML
(ivr/phone/runtime.py). The queue's hold music and the agents' whisper are in ivr/phone/agents.py.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Blueprint, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from ivr import engine, services
from ivr.engine import LANGUAGE, REMEMBERED, CallerInput, CallState, Kind, Place, Step
from ivr.logs import STEP_ENVIRON
from ivr.phone import admission, effects, missed, transfers
from ivr.phone.callers import call_sid as _call_sid
from ivr.phone.callers import caller
from ivr.phone.sids import recording_sid, status_word

log = logging.getLogger("ivr.voice")
KEPT_LANGUAGE = ("language:default", "language:kept")  # not a choice the caller made
bp = Blueprint("voice", __name__, url_prefix="/voice")
admission.guard(bp)


def _reply(step: Step) -> Response:
    """Carry out any effect, log and record each step (the database may be down), then answer."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    rt, store = services.runtime(), services.store()
    call_sid = _call_sid()
    who = caller()
    key = who.key
    steps = [step]
    while step.kind is Kind.EFFECT:  # e.g. send a text, then tell the caller how it went
        outcome, detail = effects.carry_out(step, who, call_sid)
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
    remembered = step.state.has(REMEMBERED)
    if (
        key
        and remembered
        and step.event.startswith(("language:", "rate:"))
        and step.event not in KEPT_LANGUAGE
    ):
        # The caller chose, and agreed to be remembered: keep it for their next call.
        if step.event.startswith("language:"):
            store.save_prefs(key, language=step.state.lang)
        else:
            store.save_prefs(key, rate=step.state.rate)
    if key and remembered:
        # Where in a topic they are, to carry on there next call; forgotten at the topic's end.
        place = engine.listening_at(rt.line, step.state)
        if place is not None:
            store.save_place(key, place.node, place.part)
        elif engine.topic_finished(rt.line, step.state):
            store.forget_place(key)
    return Response(rt.twiml(step, call_sid, rt.root_for(req.root_path)), mimetype="text/xml")


@bp.post("")
def incoming() -> Response:
    """Twilio's voice URL: a new call starts here, in the caller's language and speed if known, with
    the offer to carry on where they stopped inside a topic (within 30 days). A missed call to a
    missed-call number is rejected and called back (ivr/phone/missed.py); the call back starts here
    too, as the caller's call, saying first that the line is calling back."""
    refused = missed.on_incoming()
    if refused is not None:
        return refused
    key = caller().key
    store = services.store()
    prefs = store.get_prefs(key) if key else None
    kept = prefs.place if prefs else None
    step = engine.start(
        services.line(),
        prefs.language if prefs else None,
        prefs.rate if prefs else None,
        returning=prefs is not None and prefs.language is not None,
        place=Place(kept.node, kept.part) if kept else None,
        calling_back=missed.call_back_id() is not None,
        # Only a caller who agreed has anything kept (ivr.store.calls.get_prefs reads them alone).
        remembered=prefs is not None,
        hidden=key is None,
    )
    call_sid = _call_sid()
    if call_sid:
        store.call_started(call_sid, key, None if step.state.node == LANGUAGE else step.state.lang)
    return _reply(step)


# Twilio's CallStatus values (https://www.twilio.com/docs/voice/api/call-resource#call-status-values):
# only these end a call; queued, initiated, ringing, in-progress and answered do not.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
PASSING_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress", "answered"})


@bp.post("/status")
def status() -> Response:
    """Twilio's status callback: a final status ends the call (how, and how long); others do not."""
    call_sid = _call_sid()
    call_status = status_word(request.form.get("CallStatus", ""))
    try:
        duration: int | None = int(request.form.get("CallDuration", ""))
    except ValueError:
        duration = None
    if call_status not in FINAL_STATUSES:
        if call_status not in PASSING_STATUSES:
            log.warning("call=%s: unknown CallStatus %r; the call is not ended", call_sid or "-", call_status)
        return Response(status=204)
    missed.on_status(call_status)
    if call_sid:
        services.store().call_ended(call_sid, call_status, duration)
    else:
        log.warning("a final CallStatus %r without a CallSid: no call to end", call_status)
    return Response(status=204)


def _with_state(view: Callable[[CallState], Response]) -> Callable[[], Response]:
    """Give a view the call state from its URL; a missing or broken one restarts at the main menu."""

    @functools.wraps(view)
    def wrapped() -> Response:
        rt = services.runtime()
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
    form, rt = req.form, services.runtime()
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


# The journey events that begin a transfer to a number, and the one the whisper's "press 1" adds.
TRANSFER_EVENTS = ("transfer:", "operator")
WHISPER_ACCEPTED = "whisper:accepted"


@bp.post("/dial")
@_with_state
def dial(state: CallState) -> Response:
    """A <Dial> or <Enqueue> action: the transfer ended; goodbye after a conversation, else the
    caller hears why and is offered a call back or a recorded question (ivr/phone/transfers.py)."""
    form, rt = request.form, services.runtime()
    now = rt.clock()
    if "DialCallStatus" not in form and "QueueResult" in form:
        outcome = transfers.queue_outcome(
            status_word(form["QueueResult"]),
            waited_s=transfers.waited(form.get("QueueTime", ""), request.args.get("t0", ""), now),
            max_wait_s=rt.queue_max_wait,
            open_now=transfers.open_now(rt.line.directory, request.args.get("k", ""), now),
        )
    else:
        status = status_word(form.get("DialCallStatus", ""))
        screened = request.args.get("screen") == "1"
        call_sid = _call_sid()
        accepted = None
        if screened and status in transfers.ANSWERED and call_sid:
            accepted = services.store().transfer_taken(call_sid, WHISPER_ACCEPTED, TRANSFER_EVENTS)
        outcome = transfers.dial_outcome(status, screened=screened, accepted=accepted)
    return _reply(engine.next_step(rt.line, state, CallerInput(dial_status=outcome, now=now)))


@bp.post("/recorded")
@_with_state
def recorded(state: CallState) -> Response:
    """A <Record> action (or its no-audio fallback): keep the question and tell the caller."""
    url = request.form.get("RecordingUrl", "").strip()[:500]
    try:
        seconds = int(request.form.get("RecordingDuration", "0"))
    except ValueError:
        seconds = 0
    if request.args.get("empty") == "1" or not url.startswith("https://") or seconds <= 0:
        result = "empty"
    else:
        # Kept even when the call has ended: a caller who hangs up to finish a question is the usual
        # case, and Twilio's action may come after the final status. Once per RecordingSid.
        specialty = engine.specialty_for_state(services.line(), state)
        saved = services.store().add_recording(
            _call_sid(),
            url,
            duration_seconds=seconds,
            specialty=specialty,
            recording_sid=recording_sid(request.form.get("RecordingSid", ""), url),
        )
        result = "saved" if saved is not None else "failed"
    return _reply(engine.next_step(services.line(), state, CallerInput(outcome=("record", result))))


@bp.post("/fallback")
def fallback() -> Response:
    """Twilio's fallback URL, called when a webhook failed: apologise, offer a person, main menu."""
    log.error(
        "Twilio fell back: call=%s error=%s url=%s",
        _call_sid() or "-",
        request.form.get("ErrorCode", "-")[:16],
        request.form.get("ErrorUrl", "-")[:200],
    )
    return _safe_reply()


def _safe_reply() -> Response:
    """The runtime's safe reply, its URLs under this request's public path."""
    rt = services.runtime()
    return Response(rt.safe_reply(rt.root_for(request.root_path)), mimetype="text/xml")


@bp.errorhandler(Exception)
def on_error(exc: Exception) -> Response:
    """Any unexpected failure: apologise and offer the main menu rather than Twilio's error."""
    if isinstance(exc, HTTPException):
        return exc  # type: ignore[return-value]
    log.exception("webhook failed on %s; sent the safe reply", request.path)
    g.ivr_failed = True  # not kept for a redelivery (ivr/phone/replay.py): that one may succeed
    return _safe_reply()
