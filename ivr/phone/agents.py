"""The call-centre side of a transfer: what a caller waiting in a queue hears (hold), what the
specialist who answers hears first (the whisper), and an agent's phone line for a queue.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ivr import engine, services
from ivr.engine import CallState
from ivr.phone import admission, sids, transfers, views
from ivr.phone.views import on_error

log = logging.getLogger("ivr.voice")
bp = Blueprint("agents", __name__, url_prefix="/voice")
admission.guard(bp)
bp.register_error_handler(Exception, on_error)


HOLD_PAUSE_S = 20  # silence between one "please hold" and the next (Twilio then asks for the hold again)
WHISPER_WAIT_S = 8  # how long the person answering has to press 1, each of the two times it is asked


@bp.post("/hold")
def hold() -> Response:
    """An <Enqueue waitUrl>: what a caller in a queue hears, again and again while they wait.

    "Please hold", and star to stop waiting, in a <Gather>: star (or the longest wait passed, or
    the specialty's closing time) is a <Leave/>, after which Twilio posts the <Enqueue> action
    (QueueResult=leave) and the caller is offered a call back or a recorded question.
    """
    return _hold()


@bp.post("/hold/key")
def hold_key() -> Response:
    """The hold's <Gather> action: star leaves the queue; any other key keeps the caller waiting."""
    if request.form.get("Digits", "").strip()[:1] == "*":
        return _leave()
    return _hold()


def _hold() -> Response:
    line, rt = services.line(), services.runtime()
    now = rt.clock()
    waited = transfers.waited(request.form.get("QueueTime", ""), request.args.get("t0", ""), now)
    if waited >= rt.queue_max_wait or not transfers.open_now(line.directory, request.args.get("k", ""), now):
        return _leave()
    state = engine.state_from_query(line, request.args)
    lang = state.lang if state else line.content.default_language
    prompts = line.prompts(lang)
    gather = Gather(
        input="dtmf",
        num_digits=1,
        finish_on_key="",  # every key is heard, and star is the one that leaves
        timeout=max(1, min(HOLD_PAUSE_S, round(rt.queue_max_wait - waited))),
        action=_here("/voice/hold/key"),
        method="POST",
    )
    rate = state.rate if state else "normal"
    for text in (prompts.phrases.queue_wait, prompts.phrases.queue_leave):
        rt.narrator.speak(gather, text, prompts, rate)
    response = VoiceResponse()
    response.append(gather)
    return _twiml(response)


def _leave() -> Response:
    response = VoiceResponse()
    response.leave()
    return _twiml(response)


@bp.post("/whisper")
def whisper() -> Response:
    """The <Number url> of a transfer: said to whoever answers, before the caller is put through.

    Who is calling and why, then "to take this call, press 1", asked twice. A person presses 1 and
    is put through; a voicemail (or a person who does not press 1) hears that the caller will be
    offered a call back, and this leg hangs up, so the caller's <Dial> ends and they get the offer.
    """
    state = engine.state_from_query(services.line(), request.args)
    line, rt = services.line(), services.runtime()
    staff = line.prompts(line.content.default_language)
    response = VoiceResponse()
    first, again = _whisper_gather(), _whisper_gather()
    _say_whisper(first, request.args.get("c", "")[:64], state)
    rt.narrator.speak(first, staff.phrases.whisper_accept, staff, "normal")
    rt.narrator.speak(again, staff.phrases.whisper_accept, staff, "normal")
    response.append(first)
    response.append(again)
    return _not_taken(response)


@bp.post("/whisper/answer")
def whisper_answer() -> Response:
    """The whisper's <Gather> action: 1 takes the call (noted on the caller's journey, then an empty
    reply, and Twilio bridges the two); any other key declines it."""
    if request.form.get("Digits", "").strip()[:1] != "1":
        return _not_taken(VoiceResponse())
    caller_sid = sids.sid(request.args.get("c", ""), "CA")
    state = engine.state_from_query(services.line(), request.args)
    if caller_sid:
        services.store().record_event(
            caller_sid, views.WHISPER_ACCEPTED, state.node if state else "", state.part if state else 0
        )
    return _twiml(VoiceResponse())


def _whisper_gather() -> Gather:
    return Gather(
        input="dtmf",
        num_digits=1,
        finish_on_key="",
        timeout=WHISPER_WAIT_S,
        action=_here("/voice/whisper/answer"),
        method="POST",
    )


def _not_taken(response: VoiceResponse) -> Response:
    """Tell whoever answered that the call was not taken, and hang up this leg (not the caller's)."""
    line = services.line()
    staff = line.prompts(line.content.default_language)
    services.runtime().narrator.speak(response, staff.phrases.whisper_missed, staff, "normal")
    response.hangup()
    return _twiml(response)


def _here(path: str) -> str:
    """`path` under the line's public path (ivr/phone/runtime.py root_for), with this request's
    query string: the call state, the specialty, who is calling."""
    path = services.runtime().root_for(request.root_path) + path
    query = request.query_string.decode("utf-8", "replace")
    return f"{path}?{query}" if query else path


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


@bp.post("/agent")
def agent() -> Response:
    """An agent's phone for a queue specialty: the whisper of the caller waiting longest, then them."""
    line = services.line()
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
    waiting = services.store().oldest_waiting(f"transfer:{specialty}")
    if waiting:
        events = services.store().events_for(waiting)
        lang, _, rate = (events[-1].detail or "").partition(" ") if events else ("", "", "")
        known = lang in line.content.prompts and rate in engine.RATES
        _say_whisper(
            response, waiting, CallState(line.content.tree.root, lang=lang, rate=rate) if known else None
        )
    dial = Dial()
    dial.queue(queue)
    response.append(dial)
    return Response(str(response), mimetype="text/xml")


def _say_whisper(response: VoiceResponse | Gather, caller_sid: str, state: CallState | None) -> None:
    """The whisper, in the staff's language: the caller's language, speed and topics heard."""
    line = services.line()
    staff = line.prompts(line.content.default_language)
    topics = ", ".join(_topics_heard(caller_sid) if caller_sid else []) or staff.phrases.whisper_no_topics
    language = line.prompts(state.lang).display_name if state else "-"
    rate = staff.rate_names[state.rate] if state else "-"  # type: ignore[index]
    text = staff.phrases.whisper.format(language=language, rate=rate, topics=topics)
    services.runtime().narrator.speak(response, text, staff, "normal")


def _topics_heard(call_sid: str) -> list[str]:
    """Titles of the topics a call has reached so far, in the staff's language, in order."""
    line = services.line()
    tree = line.content.tree
    lang = line.content.default_language
    # A topic is reached at its first part, or where the caller carried on from their last call.
    seen = dict.fromkeys(
        e.node
        for e in services.store().events_for(call_sid)
        if e.node in tree.sections and (e.part == 0 or e.event == "carry_on")
    )
    return [tree.section(node, lang).title.rstrip(".") for node in seen]
