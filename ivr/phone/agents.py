"""The call-centre side of a transfer: what a caller waiting in a queue hears (hold), what the
specialist who answers hears first (the whisper), and an agent's phone line for a queue.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr import engine, services
from ivr.engine import CallState
from ivr.phone import admission
from ivr.phone.views import on_error

log = logging.getLogger("ivr.voice")
bp = Blueprint("agents", __name__, url_prefix="/voice")
admission.guard(bp)
bp.register_error_handler(Exception, on_error)


@bp.post("/hold")
def hold() -> Response:
    """What a caller in a queue hears; Twilio asks again when it has been said."""
    state = engine.state_from_query(services.line(), request.args)
    lang = state.lang if state else services.line().content.default_language
    response = VoiceResponse()
    prompts = services.line().prompts(lang)
    services.runtime().narrator.speak(
        response, prompts.phrases.queue_wait, prompts, state.rate if state else "normal"
    )
    response.pause(length=20)
    return Response(str(response), mimetype="text/xml")


@bp.post("/whisper")
def whisper() -> Response:
    """Said to the specialist who answers, before the caller is put through: who is calling, and why."""
    state = engine.state_from_query(services.line(), request.args)
    response = VoiceResponse()
    _say_whisper(response, request.args.get("c", "")[:64], state)
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


def _say_whisper(response: VoiceResponse, caller_sid: str, state: CallState | None) -> None:
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
    seen = dict.fromkeys(
        e.node for e in services.store().events_for(call_sid) if e.node in tree.sections and e.part == 0
    )
    return [tree.section(node, lang).title.rstrip(".") for node in seen]
