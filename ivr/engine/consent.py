"""Consent to be remembered, and being forgotten (README, Personal data; DPDP Act 2023).

Remembering. Nothing is kept for a caller's number unless they agree. Right after a caller chooses a
language (a key or its name, at the call's start or later), on a call where nothing is remembered
for their number and the number is not withheld, the line asks once: "To have me remember your
language, speed and where you stop next time, press 1. I keep only a code made from your number,
for 365 days after your last call."

- 1, "yes", "remember me", "हाँ", "haan": agreed: an EFFECT "remember" (event AGREED); the edge keeps
  the consent and answers ("remember", "kept" | "failed"). Kept (REMEMBERED): thanks, then the
  welcome (or back to where the caller was), and from then on their choices. Failed: "Sorry, I cannot
  remember your choices right now, so nothing is kept.", then the same, with nothing kept.
- 2, "no", "नहीं", "don't remember", "मत रखो", "forget me", or silence: nothing kept; the welcome
  (or back), with no "I did not hear anything".
- 9 or "repeat": the question again.
- Anything else: taken as said at the main menu (as at the offer to carry on, ivr.engine.carry_on).

Asked at most once a call (ASKED), never of a caller remembered already or of a withheld number.

Forgetting. "Forget me" (any language's `forget` words) from anywhere, or the key after the
languages' own at the language menu reached from the call (3: star at the main menu, then 3),
asks: what will be forgotten, "To forget, press 1. To keep it, press star." 1 (or "yes") is an
EFFECT "forget": the edge erases what the line holds for the number (ivr.phone.erasure) and
answers with an outcome ("forget", "done" | "failed" | "hidden"). Done: "Done. I have forgotten
your number." and the main menu; the call keeps nothing more unless the caller agrees again.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import partial

from ivr.engine import wording
from ivr.engine.model import (
    ASKED,
    CONSENT,
    FORGET,
    GREETED,
    HIDDEN,
    REMEMBERED,
    CallState,
    Kind,
    Line,
    Step,
)
from ivr.engine.moves import arrive, return_to, welcome
from ivr.engine.people import origin
from ivr.engine.talk import Said, each, gather, here, phrases, prefixed
from ivr.engine.understanding import Heard

AGREED = "consent:yes"  # the event of the step on which the caller agreed: the edge keeps the consent
FORGET_EFFECT = "forget"
# Keeping the consent is an EFFECT: "I will remember" is said only once the edge has kept it.
REMEMBER_EFFECT = "remember"
DECLINE = ("action", "decline")  # "no", "नहीं" where a yes/no question is asked (ivr.engine.understanding)
# No to being remembered: "no", "don't remember", "मत रखो", and "forget me" (asked whether to be
# remembered, a caller who says "forget me" or "mujhe yaad mat rakhna" is saying no; nothing is kept).
NO = (DECLINE, ("action", "forget"))


def notice_version(line: Line) -> str:
    """Which wording of the consent question (and of what it says after a yes) a caller heard: a
    short digest of its sentences in every language (16 characters), so that a changed notice is a
    new version by itself."""
    said = (wording.consent_prompt, wording.consent_given)
    texts = [text for lang in line.content.languages for build in said for text in build(line, lang)]
    return "n" + hashlib.sha256("\n".join(texts).encode()).hexdigest()[:15]


def start_flags(*, remembered: bool, hidden: bool) -> int:
    """The consent flags a call starts with: a remembered caller and a withheld number are never asked."""
    return (REMEMBERED | ASKED if remembered else 0) | (HIDDEN | ASKED if hidden else 0)


def should_ask(state: CallState) -> bool:
    """Whether a caller who has just chosen a language is asked whether to remember it."""
    return not state.has(ASKED | REMEMBERED)


def ask(line: Line, state: CallState, event: str, lead: Said | None = None) -> Step:
    """The question, after `lead` (e.g. "English it is."). `state` is where the call would go on
    (the main menu to be welcomed when not GREETED; else where the caller was, as `ret`)."""
    there = replace(state, node=CONSENT, part=0, flags=state.flags | ASKED)
    return gather(line, there, [*(lead or []), *here(line, there)], event)


def _go_on(line: Line, state: CallState, event: str, lead: Said) -> Step:
    """After the question: the welcome when it is still to come, else back to where the caller was."""
    if not state.has(GREETED):
        return prefixed(welcome(line, replace(state, ret="", ret_part=0), event), lead)
    return return_to(line, state, event, lead=lead)


def answer(line: Line, state: CallState, heard: Heard | None, *, silent: bool) -> Step | None:
    """The caller's answer to the question; None for anything that is not one (the flow then takes
    it as said at the main menu, `at_main_menu`)."""
    if silent or (heard is not None and ((heard.kind, heard.value) in NO or heard == Heard("key", "2"))):
        return _go_on(line, state, "consent:silence" if silent else "consent:no", [])
    if heard is not None and heard.kind == "key" and heard.value == "1":
        return Step(Kind.EFFECT, (), state, AGREED, effect=REMEMBER_EFFECT)
    if heard is not None and (heard.kind, heard.value) == ("action", "repeat"):
        return gather(line, state, here(line, state), "consent:repeat")
    return None


def remembered(line: Line, state: CallState, result: str) -> Step:
    """How keeping the consent went: "kept" is thanked ("Thank you. I will remember.") and the
    caller's choices are kept from now on (REMEMBERED); anything else (the database could not keep
    it) is said truthfully, nothing is kept, and the call goes on all the same."""
    if result == "kept":
        agreed = replace(state, flags=state.flags | REMEMBERED)
        return _go_on(line, agreed, "consent:kept", each(line, agreed, partial(wording.consent_given, line)))
    return _go_on(line, state, "consent:failed", each(line, state, phrases(line, "consent_failed")))


def at_main_menu(line: Line, state: CallState) -> tuple[CallState, Said]:
    """The question not answered: the caller is at the main menu, and hears the disclaimer first
    when the welcome had not been said yet."""
    lead: Said = [] if state.has(GREETED) else [(line.prompts(state.lang).phrases.disclaimer, state.lang)]
    root = line.content.tree.root
    return replace(state, node=root, part=0, ret="", ret_part=0, flags=state.flags | GREETED), lead


def ask_to_forget(line: Line, state: CallState) -> Step:
    """ "Forget me", or its key: what will be forgotten and how to answer; for a withheld number,
    that nothing is kept for it, and the caller stays where they were."""
    ret, ret_part = origin(state)
    back = replace(state, ret=ret, ret_part=ret_part)
    if state.has(HIDDEN):
        return return_to(line, back, "forget:hidden", lead=each(line, state, phrases(line, "forget_hidden")))
    there = replace(back, node=FORGET, part=0)
    return gather(line, there, here(line, there), "forget")


def forget_key(line: Line, state: CallState, key: str) -> Step | None:
    """A key at "To forget, press 1.": 1 forgets (the edge's effect), 2 keeps; None for others."""
    if key == "1":
        return Step(Kind.EFFECT, (), state, "forget:confirm", effect=FORGET_EFFECT)
    if key == "2":
        return return_to(line, state, "forget:kept")
    return None


def forgotten(line: Line, state: CallState, result: str) -> Step:
    """How erasing went: done (and the main menu; nothing is kept again unless the caller agrees
    again), or, truthfully, that it could not be done now, or that a hidden number has nothing kept."""
    if result == "done":
        cleared = replace(state, flags=state.flags & ~(REMEMBERED | ASKED))
        root = line.content.tree.root
        lead = each(line, cleared, phrases(line, "forget_done"))
        return prefixed(arrive(line, replace(cleared, node=root, part=0), "forget:done"), lead)
    said = "forget_hidden" if result == "hidden" else "forget_failed"
    return return_to(line, state, f"forget:{result}", lead=each(line, state, phrases(line, said)))
