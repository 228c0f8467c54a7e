"""What an EFFECT step asks the line to do outside the call: text a topic, book a call back.

The engine says what is wanted (`Step.effect`); this module does it and reports how it went, so that
the engine can tell the caller the truth ("your text has been sent" only when it has been). Each
effect is done once: a call back once per call and specialty, a text once per call and topic (the
store's unique keys), so a redelivered webhook adds nothing; and none for a call that has ended,
nor for a request without a CallSid (no call to do it once for, or to end).
"""

from __future__ import annotations

import logging

from ivr import engine, services
from ivr.engine import FORGET_EFFECT, REMEMBER_EFFECT, Step
from ivr.phone.callers import Caller
from ivr.phone.erasure import erase_caller, erased_summary
from ivr.phone.texts import topic_text
from ivr.store.audit import CALLER_BY_VOICE, ERASE

log = logging.getLogger("ivr.voice")


def carry_out(step: Step, who: Caller, call_sid: str) -> tuple[tuple[str, str], str]:
    """Do what an EFFECT step asks: ((what, how it went), detail for the caller).

    How it went: "kept"/"failed" for consent to be remembered, "done"/"failed"/"hidden" for
    forgetting; "sent"/"saved"/"failed"/"capped"/"not_allowed" for a text (ivr/phone/texts.py),
    "saved"/"failed" for a call back, "no_number" for either when the line has no number to call
    or text back (withheld, junk, not valid: Caller.number is None), "failed" for either without a
    CallSid (nothing is done: "we could not" is true), "ended" when the call has ended (a late
    webhook: nothing is done, and no one hears the reply); the detail of a saved call back is the
    last four digits of the number the line will ring.
    """
    what = step.effect or ""
    if what == FORGET_EFFECT:
        return (what, _forget(who)), ""
    if what == REMEMBER_EFFECT:
        return (what, _remember(step, who)), ""
    if who.number is None or who.key is None:
        return (what, "no_number"), ""
    if not call_sid:
        log.warning("a %s request without a CallSid (caller=%s): nothing done", what, who.ref)
        return (what, "failed"), ""
    store = services.store()
    if store.has_ended(call_sid):
        log.warning("call=%s has ended: its late %s request does nothing", call_sid, what)
        return (what, "ended"), ""
    line = services.line()
    if what == "sms":
        prompts = line.prompts(step.state.lang)
        node = step.state.node
        body = topic_text(line, node, prompts, step.state.lang)
        topic = line.content.tree.topic_of(node)
        sent = services.sms().send(call_sid, who.number, body, caller_hash=who.key, topic=topic)
        return ("sms", sent), ""
    saved = store.add_callback(
        call_sid, who.key, who.number, specialty=step.specialty, language=step.state.lang
    )
    return ("callback", "saved" if saved is not None else "failed"), who.number[-4:]


def _remember(step: Step, who: Caller) -> str:
    """Keep the caller's consent, with the notice they heard and their language and speed: "kept"
    only once the database has it, else "failed" (the line then says nothing is kept)."""
    if who.key is None:  # never asked (a withheld number): nothing to keep it under
        return "failed"
    notice = engine.notice_version(services.line())
    kept = services.store().save_consent(who.key, notice, language=step.state.lang, rate=step.state.rate)
    return "kept" if kept else "failed"


def _forget(who: Caller) -> str:
    """Erase what is kept for the caller's number, now, while they wait: "done" only once the
    database has erased it (recordings Twilio could not delete yet are hidden and retried by the
    purge), "failed" when it could not (nothing was), "hidden" for a withheld number. Done even on
    a call that has ended: a caller who asked to be forgotten and hung up is forgotten."""
    if who.key is None:
        return "hidden"
    erased = erase_caller(who)
    if erased is None:
        return "failed"
    # The caller's own request, kept with the staff's (after it, best effort: their right to be
    # forgotten does not wait on the audit log).
    services.store().audit(CALLER_BY_VOICE, ERASE, who.ref, detail="done: " + erased_summary(erased))
    return "done"
