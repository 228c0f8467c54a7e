"""What an EFFECT step asks the line to do outside the call: text a topic, book a call back.

The engine says what is wanted (`Step.effect`); this module does it and reports how it went, so that
the engine can tell the caller the truth ("your text has been sent" only when it has been).
"""

from __future__ import annotations

from ivr import services
from ivr.engine import Step
from ivr.phone.callers import Caller
from ivr.phone.texts import topic_text


def carry_out(step: Step, who: Caller, call_sid: str) -> tuple[tuple[str, str], str]:
    """Do what an EFFECT step asks: ((what, how it went), detail for the caller).

    How it went: "sent"/"saved"/"failed" for a text (ivr/phone/texts.py), "saved"/"failed" for a call
    back, "no_number" for either when the caller's number is withheld; the detail of a saved call back
    is the last four digits of the number the line will ring.
    """
    what = step.effect or ""
    if who.key is None:
        return (what, "no_number"), ""
    line = services.line()
    if what == "sms":
        prompts = line.prompts(step.state.lang)
        body = topic_text(line, step.state.node, prompts, step.state.lang)
        return ("sms", services.sms().send(call_sid, who.number, body)), ""
    saved = services.store().add_callback(
        call_sid, who.key, who.number, specialty=step.specialty, language=step.state.lang
    )
    return ("callback", "saved" if saved is not None else "failed"), who.number[-4:]
