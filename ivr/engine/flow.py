"""The engine: from (line, state, input) to the next step. No Flask here.

How a call goes, in the terms callers would use:
- A new caller hears what to do in an emergency, in every language, then chooses a language;
  silence keeps the default language and says how to switch. A returning caller hears the
  emergency sentence after "Welcome back"; one who stopped inside a topic last time is then
  offered to carry on there (ivr.engine.carry_on).
- Menus say their options. A topic plays part after part on its own, with a short pause between,
  and keys work during every part: 1 next, 2 the part before, 9 this part again, * the menu above.
  At a topic's end: again from the start, a text, back, the main menu.
- Silence at a menu re-prompts, then warns, then says goodbye. So does a run of wrong keys or
  words; from the second in a row the line offers a person or a call back.
- 0 always leads somewhere: a person, or when no one can take the call, a call back or a
  recorded question (ivr.engine.people).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ivr.content.models import RESERVED_KEYS
from ivr.engine import carry_on, consent, people, understanding, wording
from ivr.engine.model import (
    CARRY_ON,
    CHOSEN,
    CONFIRM,
    CONSENT,
    EMERGENCY,
    FORGET,
    GREETED,
    HELP_MORE,
    KEPT,
    LANGUAGE,
    MAX_MISSES,
    MAX_SILENCES,
    PATIENCE,
    RATES,
    RESUME,
    SAFETY,
    SPECIALIST,
    SYSTEM_NODES,
    TRANSIENT,
    CallerInput,
    CallState,
    Kind,
    Line,
    Place,
    Step,
)
from ivr.engine.moves import arrive, following, play, preceding, return_to, welcome
from ivr.engine.talk import Build, Said, each, gather, goodbye, here, is_playing, phrases, prefixed, step

STEP_CACHE_SIZE = 4096  # steps kept per line (a few MB); when full, it starts again
# The actions carried out without a look at the clock (only a person's opening hours need it).
CLOCK_FREE_ACTIONS = frozenset({"repeat", "main", "back", "help", "rate", "emergency", "text"})
SPEEDS = ("slow", "normal", "fast")  # "slower" and "faster" step along this


def start(
    line: Line,
    lang: str | None = None,
    rate: str | None = None,
    *,
    returning: bool = False,
    place: Place | None = None,
    calling_back: bool = False,
    remembered: bool | None = None,
    hidden: bool = False,
) -> Step:
    """The first step of a call: for a new caller, the emergency sentence in every language and the
    language menu; for a caller whose language is known, the welcome and the main menu; for a
    returning caller who stopped inside a topic (`place`, kept by the edge), the offer to carry on.
    The line's call back after a missed call (`calling_back`) first says who is calling, and that it
    is free. `remembered`: the caller agreed to be remembered (by default: `returning`); `hidden`:
    their number is withheld. Neither is ever asked whether to be remembered (ivr.engine.consent)."""
    content = line.content
    rate = rate if rate in RATES else "normal"
    kept = consent.start_flags(remembered=returning if remembered is None else remembered, hidden=hidden)
    if lang not in content.prompts and len(content.languages) > 1:
        state = CallState(node=LANGUAGE, lang=content.default_language, rate=rate, flags=SAFETY | kept)
        said = [(wording.safety(line, each_lang), each_lang) for each_lang in content.languages]
        made = gather(line, state, [*said, *wording.language_prompt(line, full=True)], "start:language")
    else:
        state = CallState(
            node=content.tree.root, lang=lang or content.default_language, rate=rate, flags=CHOSEN | kept
        )
        # Never on a call the line placed (a call back): whoever answers may not be the caller.
        if returning and place is not None and not calling_back and carry_on.can_offer(line, place):
            made = carry_on.offer(line, state, place, "start:carry_on")
        else:
            made = welcome(line, state, "start", returning=returning)
    if not calling_back:
        return made
    langs = line.languages_for(made.state)
    return prefixed(made, [(line.prompts(each).phrases.calling_back, each) for each in langs])


def next_step(line: Line, state: CallState, inp: CallerInput) -> Step:
    """What the caller hears next, given where they are and what they did."""
    if inp.speech or inp.dial_status is not None or inp.outcome is not None or state.node == CONFIRM:
        return _next_step(line, state, inp)  # (yes to "a person?" looks at the clock)
    action = RESERVED_KEYS.get(inp.digits)
    if action is not None and action not in CLOCK_FREE_ACTIONS:  # a person: are they open now?
        return _next_step(line, state, inp)
    # A key or a silence: the same state and input always give the same step, and callers press the
    # same keys in the same places all day, so it is worked out once (again once sign-offs change: a
    # topic's end says whether it was clinically reviewed).
    key = (state, inp.digits, inp.silent, line.reviews.version)
    made = line._steps.get(key)
    if made is None:
        if len(line._steps) >= STEP_CACHE_SIZE:
            line._steps.clear()
        made = line._steps[key] = _next_step(line, state, inp)
    return made


def _next_step(line: Line, state: CallState, inp: CallerInput) -> Step:
    # What the last reply left pending (help's second page, a resume) no longer is.
    settled = replace(state, flags=state.flags & ~TRANSIENT)
    if inp.dial_status is not None:
        return people.after_dial(line, replace(settled, silences=0), inp.dial_status, inp.now)
    if inp.outcome is not None:
        what, result = inp.outcome
        if what == consent.FORGET_EFFECT:
            return consent.forgotten(line, replace(settled, silences=0), result)
        if what == consent.REMEMBER_EFFECT:
            return consent.remembered(line, replace(settled, silences=0), result)
        return people.outcome(line, replace(settled, silences=0), what, result, inp.detail)
    if state.node == CONSENT:  # "To have me remember ..., press 1."
        silent = understanding.is_silent(inp)
        heard = None if silent else understanding.resolve(line, state, inp)
        answered = consent.answer(line, settled, heard, silent=silent)
        if answered is not None:
            return answered
        menu, lead = consent.at_main_menu(line, state)  # not an answer: as if said at the main menu
        step = _next_step(line, menu, inp)
        # An emergency hears its advice first: no disclaimer before "hang up now and call 112".
        return step if step.state.node == EMERGENCY else prefixed(step, lead)
    if understanding.is_silent(inp):
        return _silence(line, state)
    heard = understanding.resolve(line, state, inp)
    if state.node == CARRY_ON:
        if heard is not None and (heard.kind, heard.value) == carry_on.DECLINE:  # "no", "नहीं"
            return carry_on.declined(line, settled, "carry_on:no")
        offered = carry_on.answers_offer(heard)
        if offered is None:  # not the offer's: as if said at the main menu
            return _next_step(line, carry_on.at_main_menu(line, state), inp)
        heard = offered
    return respond(line, state, inp, heard)


def respond(line: Line, state: CallState, inp: CallerInput, heard: understanding.Heard | None) -> Step:
    """The step for a key or words, once understood as `heard` (None: not understood)."""
    settled = replace(state, flags=state.flags & ~TRANSIENT)
    here_now = replace(settled, silences=0)  # any input shows the caller is there
    if heard is None and state.silences > MAX_SILENCES:
        # The final warning asked for a key "or say something": anything said keeps the call going.
        return gather(line, replace(here_now, misses=0), here(line, here_now), "keep_going")
    if heard is None:
        return _miss(line, here_now, phrases(line, "not_understood"), talking=True, now=inp.now)
    done = replace(here_now, misses=0)  # a miss counts only in a row
    if not heard.sure and state.node != CONFIRM:
        return _ask(line, done, f"{heard.kind}:{heard.value}")
    made = _carry_out(line, done, heard.kind, heard.value, inp, state)
    if made is not None:
        return made
    if heard.kind == "action" and heard.value == "text":  # a text is of a topic: say how to get one
        return _miss(line, here_now, phrases(line, "sms_in_menu" if line.texts else "sms_unavailable"))
    if not inp.digits and heard.kind != "key":
        # Words that mean nothing here ("next" at a menu): never the action's name read back.
        return _miss(line, here_now, phrases(line, "not_understood"), talking=True, now=inp.now)
    keys = inp.digits or heard.value

    def not_an_option(lang: str) -> list[str]:
        said = understanding.heard_keys(line, lang, keys)
        return [line.prompts(lang).phrases.not_an_option.format(heard=said)]

    return _miss(line, here_now, not_an_option)


def _carry_out(
    line: Line, state: CallState, kind: str, value: str, inp: CallerInput, before: CallState
) -> Step | None:
    """Do what was pressed or said; None where it means nothing."""
    if kind == "action":
        return _action(line, state, value, inp.now, second_help=before.has(HELP_MORE))
    if kind == "lang":
        return _set_language(line, replace(state, lang=value), *people.origin(state))
    if kind == "goto":
        if state.node == LANGUAGE and not state.has(CHOSEN):
            # A place named before choosing a language: in the language it was said in, after the
            # disclaimer that the welcome would have given.
            lang = (
                "hi"
                if "hi" in line.content.prompts and any("\u0900" <= c <= "\u097f" for c in inp.speech)
                else line.content.default_language
            )
            chosen = replace(
                state, lang=lang, flags=state.flags | CHOSEN | GREETED | SAFETY, ret="", ret_part=0
            )
            lead = [(line.prompts(lang).phrases.disclaimer, lang)]
            return prefixed(arrive(line, replace(chosen, node=value, part=0), f"speech:{value}"), lead)
        if state.node in SYSTEM_NODES and state.node != LANGUAGE:
            state = replace(state, ret="", ret_part=0, pending="")
        return arrive(line, replace(state, node=value, part=0), f"speech:{value}")
    return _key(line, state, value, inp)


def _ask(line: Line, state: CallState, pending: str) -> Step:
    """Unsure of what the caller asked for: "Did you mean treatment?", then yes (1) or no (2)."""
    ret, ret_part = people.origin(state) if state.node != CONFIRM else (state.ret, state.ret_part)
    there = replace(state, node=CONFIRM, part=0, ret=ret, ret_part=ret_part, pending=pending)
    return gather(line, there, here(line, there), "confirm")


def _silence(line: Line, state: CallState) -> Step:
    """No input: a topic plays on; elsewhere re-prompt (waiting longer each time), warn, then end."""
    settled = replace(state, flags=state.flags & ~TRANSIENT)
    if state.has(RESUME):  # help or "more time" said nothing of here: say it now, unblamed
        return gather(line, settled, here(line, settled, full=False), "resume")
    if is_playing(line, state):
        return play(line, following(line, replace(settled, misses=0)), "play")
    if state.node == CARRY_ON:  # the offer not taken: the welcome goes on, no silence counted
        return carry_on.declined(line, settled)
    if state.node == LANGUAGE:
        if state.ret:  # a caller who chose before keeps their language and their place
            return return_to(line, settled, "language:kept")
        # Someone who cannot choose keeps the default language, is told how to switch, and still
        # gets the information.
        default = replace(settled, lang=line.content.default_language)
        return welcome(line, default, "language:default", kept=True)
    silences = state.silences + 1
    patience = min(state.patience + 1, len(PATIENCE) - 1)
    waited = replace(settled, silences=silences, patience=patience)
    if silences <= MAX_SILENCES:
        sorry = [*_switch_hint(line, waited), *each(line, waited, phrases(line, "no_input"))]
        return gather(line, waited, [*sorry, *here(line, waited, full=False)], "no_input")
    if silences == MAX_SILENCES + 1:
        return gather(
            line, waited, each(line, waited, phrases(line, "final_warning", "offer_person")), "final_warning"
        )
    return goodbye(line, state, "hangup:no_input")


def _switch_hint(line: Line, state: CallState) -> Said:
    """While the language is only kept by default, how to switch, in each other language."""
    if not (state.has(KEPT) and state.node == line.content.tree.root):
        return []
    others = [lang for lang in line.content.languages if lang != state.lang]
    return [(line.prompts(lang).phrases.switch_language, lang) for lang in others]


def _miss(
    line: Line, state: CallState, sorry: Build, talking: bool = False, now: datetime | None = None
) -> Step:
    """A wrong key or unknown words: say so and the prompt again; from the second in a row offer a
    person; the third warns that the call will end (with the emergency sentence), and the fourth
    ends it. A caller who keeps talking is not hung up on: the fourth puts them through to a person
    (or the call-back choices when no one can take the call) as of `now`."""
    misses = state.misses + 1
    missed = replace(state, misses=misses)
    # Not at the call-back choices: 0 there leads back to the same choices.
    person = phrases(line, "offer_person") if state.node != SPECIALIST else phrases(line)
    if misses <= MAX_MISSES:
        offer = person if misses >= 2 else phrases(line)
        said = each(line, missed, lambda lang: [*sorry(lang), *offer(lang)])
        return gather(line, missed, [*said, *here(line, missed, full=False)], "invalid")
    if misses == MAX_MISSES + 1:
        warn = phrases(line, "misses_warning")
        # Someone who cannot make themselves understood may be in trouble: the way out comes first.
        said = each(
            line, missed, lambda lang: [*sorry(lang), wording.safety(line, lang), *warn(lang), *person(lang)]
        )
        # The usual wait for that 9 (not a part's pause); silence then says what is here, unblamed.
        return gather(line, replace(missed, flags=missed.flags | RESUME), said, "invalid:warning")
    if talking and state.node != SPECIALIST:
        lead = each(line, state, sorry)
        return prefixed(people.person(line, replace(state, misses=0), now), lead)
    return goodbye(line, state, "hangup:invalid")


def _key(line: Line, state: CallState, key: str, inp: CallerInput | None = None) -> Step | None:
    """A key that is not reserved (1-4): an option, a system node's choice, or a move in a topic."""
    tree = line.content.tree
    if state.node == CONFIRM:
        if key == "2":  # no: back to where the caller was, with what is there
            back = replace(state, pending="")
            return return_to(line, back, "confirm:no")
        if key != "1":
            return None
        kind, _, value = state.pending.partition(":")
        where = state.ret or tree.root
        origin = replace(state, node=where, part=state.ret_part, ret="", ret_part=0, pending="")
        return _carry_out(line, origin, kind, value, inp or CallerInput(), origin)
    if state.node == LANGUAGE:
        langs = line.content.languages
        if key.isdigit() and 1 <= int(key) <= len(langs):
            return _set_language(line, replace(state, lang=langs[int(key) - 1]), state.ret, state.ret_part)
        if key == wording.forget_key(line) and state.ret:  # reached from the call: "forget my number"
            return consent.ask_to_forget(line, state)
        return None
    if state.node == FORGET:
        return consent.forget_key(line, state, key)
    if state.node == SPECIALIST:
        return people.choose(line, state, key)
    if state.node == CARRY_ON:
        return carry_on.resume(line, state) if key == "1" else None
    if state.node == EMERGENCY:
        if key == "1" and line.emergency_transfer:
            said = each(line, state, phrases(line, "connecting_emergency"))
            return step(
                Kind.TRANSFER, line, state, said, "emergency:transfer", number=line.emergency_transfer
            )
        return None
    if tree.is_menu(state.node):
        option = next((o for o in tree.menus[state.node].options if o.key == key), None)
        return (
            None
            if option is None
            else arrive(line, replace(state, node=option.goto, part=0), f"option:{key}")
        )
    if key == "1":
        if is_playing(line, state):
            return play(line, following(line, state), "next")
        first = tree.topic_sections(tree.topic_of(state.node))[0]
        return play(line, replace(state, node=first, part=0), "again")
    if key == "2":
        before = preceding(line, state)
        if before is None:
            return play(line, state, "previous:first", lead=each(line, state, phrases(line, "first_part")))
        return play(line, before, "previous")
    return None


def _set_language(line: Line, state: CallState, ret: str, ret_part: int = 0) -> Step:
    """A language was chosen: welcome in it (at a call's start), or confirm it and go back."""
    first_choice = not ret or ret == LANGUAGE or state.has(KEPT)
    state = replace(state, flags=(state.flags | CHOSEN) & ~KEPT)
    event = f"language:{state.lang}"
    if consent.should_ask(state):  # a choice made: may the line remember it?
        if first_choice:  # the welcome in the language chosen comes after the question
            return consent.ask(line, replace(state, ret="", ret_part=0, flags=state.flags & ~GREETED), event)
        lead = [(line.prompts(state.lang).phrases.language_set, state.lang)]
        return consent.ask(line, replace(state, ret=ret, ret_part=ret_part), event, lead)
    if first_choice:  # the first language the caller chose: the welcome in it, in full
        return welcome(line, replace(state, flags=state.flags & ~GREETED), f"language:{state.lang}")
    said = [(line.prompts(state.lang).phrases.language_set, state.lang)]
    return return_to(line, replace(state, ret=ret, ret_part=ret_part), f"language:{state.lang}", lead=said)


def _action(
    line: Line, state: CallState, action: str, now: datetime | None, *, second_help: bool = False
) -> Step | None:
    """A reserved key or its words: the same action everywhere; None where it does nothing."""
    tree = line.content.tree
    in_topic = state.node in tree.sections
    if action == "repeat":
        return play(line, state, "repeat") if in_topic else gather(line, state, here(line, state), "repeat")
    if action == "next":
        if not in_topic:
            return None
        return play(line, following(line, state) if is_playing(line, state) else state, "next")
    if action == "previous":
        return _key(line, state, "2") if in_topic else None
    if action == "again":  # a topic from its start; anywhere else, the main menu
        if in_topic:
            first = tree.topic_sections(tree.topic_of(state.node))[0]
            return play(line, replace(state, node=first, part=0), "again")
        return _action(line, state, "main", now)
    if action == "main":
        if state.node == tree.root and state.has(GREETED):
            said = each(line, state, phrases(line, "at_main_menu"))
            return gather(line, state, [*said, *here(line, state, full=False)], "main")
        if not state.has(CHOSEN):  # at a call's start: the default language, welcomed
            default = replace(state, lang=line.content.default_language)
            return welcome(line, default, "language:default", kept=True)
        return arrive(line, replace(state, node=tree.root, part=0), "main")
    if action == "back":
        return _back(line, state)
    if action == "help":
        return _help(line, state, page=1 if second_help else 0)
    if action in ("rate", "slower", "faster"):
        return _speed(line, state, action)
    if action == "more_time":
        waiting = replace(state, patience=len(PATIENCE) - 1, flags=state.flags | RESUME)
        return gather(line, waiting, each(line, waiting, phrases(line, "more_time")), "more_time")
    if action == "emergency":
        ret, ret_part = people.origin(state)
        there = replace(state, node=EMERGENCY, part=0, ret=ret, ret_part=ret_part)
        return gather(line, there, here(line, there), "emergency")
    if action == "language":
        if state.node == LANGUAGE:  # already there: the choices again
            return gather(line, state, here(line, state), "language")
        ret, ret_part = people.origin(state)
        there = replace(state, node=LANGUAGE, part=0, ret=ret, ret_part=ret_part)
        return gather(line, there, here(line, there), "language")
    if action == "forget":
        return consent.ask_to_forget(line, state)
    if action == "text":
        texted = in_topic and line.texts  # else: said why not (above), never promised
        return Step(Kind.EFFECT, (), state, "sms:request", effect="sms") if texted else None
    return people.person(line, state, now)


def _help(line: Line, state: CallState, page: int) -> Step:
    """The keys that work here, the choice first; more pages when they would take over 15 s."""
    languages = len(line.languages_for(state))
    pages = wording.help_pages(line, state, state.lang, languages)
    page = page if page < len(pages) else 0
    said = each(line, state, lambda lang: wording.help_pages(line, state, lang, languages)[page])
    flags = state.flags | RESUME | (HELP_MORE if page + 1 < len(pages) else 0)
    return gather(line, replace(state, flags=flags), said, "help" if page == 0 else "help:more")


def _back(line: Line, state: CallState) -> Step:
    """*: the menu above; from a system node, where the caller was; at the main menu, the languages."""
    tree = line.content.tree
    if state.node == LANGUAGE and not state.ret:  # at a call's start: the default language, welcomed
        return welcome(
            line, replace(state, lang=line.content.default_language), "language:default", kept=True
        )
    if state.node in SYSTEM_NODES:
        return return_to(line, state, "back")
    if state.node != tree.root:
        return arrive(line, replace(state, node=tree.back_of(state.node), part=0), "back")
    others = [lang for lang in line.content.languages if lang != state.lang]
    if state.has(KEPT) and len(others) == 1:  # as the hint said: star for the other language
        return _set_language(line, replace(state, lang=others[0]), tree.root)
    if others:
        there = replace(state, node=LANGUAGE, part=0, ret=tree.root, ret_part=0)
        return gather(line, there, here(line, there), "language")
    said = each(line, state, phrases(line, "at_main_menu"))
    return gather(line, state, [*said, *here(line, state)], "back:root")


def _speed(line: Line, state: CallState, action: str) -> Step:
    """7 switches between normal and slow (from fast, back to normal); "slower" and "faster" step
    one speed at a time, and say so when there is no slower or faster speed."""
    if action == "rate":
        rate = "slow" if state.rate == "normal" else "normal"
    else:
        at = SPEEDS.index(state.rate) + (-1 if action == "slower" else 1)
        if not 0 <= at < len(SPEEDS):
            limit = "rate_slowest" if action == "slower" else "rate_fastest"
            return play(line, state, f"rate:{state.rate}", lead=each(line, state, phrases(line, limit)))
        rate = SPEEDS[at]
    changed = replace(state, rate=rate)
    return play(line, changed, f"rate:{rate}", lead=each(line, changed, phrases(line, f"rate_{rate}")))
