"""A person (0): a specialist or the help desk when open, else a call back or a recorded question."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ivr.content.directory import Directory
from ivr.engine import wording
from ivr.engine.model import DESK, EMERGENCY, LANGUAGE, SPECIALIST, SYSTEM_NODES, CallState, Kind, Line, Step
from ivr.engine.moves import play, return_to
from ivr.engine.talk import Build, Said, each, gather, goodbye, here, is_playing, phrases, step


def origin(state: CallState) -> tuple[str, int]:
    """Where a system node leads back to: where the caller came from (node and part)."""
    if state.node in SYSTEM_NODES:
        return (state.ret or (LANGUAGE if state.node == LANGUAGE else ""), state.ret_part)
    return (state.node, state.part)


def specialty_for_state(line: Line, state: CallState) -> str | None:
    """Who 0 reaches from where the caller is (or came from, in a system node): the specialty for
    that part of the tree, or the help desk when that specialty has no number or queue set up.
    None without a directory."""
    if line.directory is None:
        return None
    directory = line.directory
    where = state.ret if state.node in SYSTEM_NODES else state.node
    tree = line.content.tree
    specialty = directory.specialty_for(tree, where) if tree.has(where) else directory.file.default
    return specialty if directory.route(specialty).reachable else directory.file.default


def name_of(line: Line, specialty: str | None, lang: str) -> str:
    """Who a call back or a question goes to, by name: the specialty, or the help desk."""
    if line.directory is None or specialty is None:
        return line.prompts(lang).phrases.help_desk
    return line.directory.file.specialties[specialty].name[lang]


def person(line: Line, state: CallState, now: datetime | None) -> Step:
    """0: the specialist for here if they can take the call now (the help desk elsewhere); if no one
    can (no number, closed, a holiday), say why and when they are open, then offer the other ways."""
    specialty = specialty_for_state(line, state)
    if line.directory is None or specialty is None:
        if line.operator_number:
            said = each(line, state, phrases(line, "connecting"))
            return step(
                Kind.TRANSFER, line, state, said, "operator", number=line.operator_number, screened=True
            )
        sorry = each(line, state, phrases(line, "operator_unavailable"))
        return specialist_menu(line, state, sorry, "operator:unavailable")
    directory = line.directory
    entry = directory.file.specialties[specialty]
    reachable = directory.route(specialty).reachable  # else: the help desk, with no number set up
    if not reachable and not entry.hours_said:
        sorry = each(line, state, phrases(line, "operator_unavailable"))
        return specialist_menu(line, state, sorry, f"closed:{specialty}", now)
    if not reachable or (now is not None and not directory.is_open(specialty, now)):
        return specialist_menu(line, state, _closed(line, state, specialty, now), f"closed:{specialty}", now)
    return _transfer(line, directory, state, specialty)


def _closed(line: Line, state: CallState, specialty: str, now: datetime | None) -> Said:
    """Why a specialty cannot take the call now: closed (or a holiday), and when they take calls."""
    assert line.directory is not None
    entry = line.directory.file.specialties[specialty]
    holiday = now is not None and line.directory.is_holiday(now)

    def closed(lang: str) -> list[str]:
        p = line.prompts(lang).phrases
        hours = (entry.hours_said or {}).get(lang, "")
        return [(p.closed_holiday if holiday else p.closed).format(name=entry.name[lang], hours=hours)]

    return each(line, state, closed)


def _transfer(line: Line, directory: Directory, state: CallState, specialty: str) -> Step:
    """Connect the caller to a specialty (a number, or its Twilio queue), saying to whom."""
    entry = directory.file.specialties[specialty]
    route = directory.route(specialty)

    def connecting(lang: str) -> list[str]:
        p = line.prompts(lang).phrases
        note = [p.language_note.format(name=entry.name[lang])] if state.lang not in entry.languages else []
        return [p.connecting_to.format(name=entry.name[lang]), *note]

    # The transfer's state is where a failed transfer's choices lead back to (see after_dial).
    return step(
        Kind.TRANSFER,
        line,
        state,
        each(line, state, connecting),
        f"transfer:{specialty}",
        number=route.number,
        queue=route.queue,
        specialty=specialty,
        screened=True,
    )


def specialist_menu(
    line: Line, state: CallState, reason: Said, event: str, now: datetime | None = None
) -> Step:
    """Offer a call back or a recorded question (and the help desk, when it can take the call now
    and was not the one asked for), remembering where the caller came from."""
    ret, ret_part = origin(state)
    desk = DESK if _desk_can_take(line, state, now) else 0
    menu = replace(
        state, node=SPECIALIST, part=0, ret=ret, ret_part=ret_part, flags=(state.flags & ~DESK) | desk
    )
    return gather(line, menu, [*reason, *here(line, menu)], event)


def _desk_can_take(line: Line, state: CallState, now: datetime | None) -> bool:
    directory = line.directory
    if directory is None or state.node == SPECIALIST:
        return state.has(DESK)  # a failed call back or recording keeps what was offered
    desk = directory.file.default
    return (
        specialty_for_state(line, state) != desk
        and directory.route(desk).reachable
        and (now is None or directory.is_open(desk, now))
    )


def choose(line: Line, state: CallState, key: str) -> Step | None:
    """At the call-back choices: 1 a call back, 2 record a question, 3 the help desk (when offered)."""
    specialty = specialty_for_state(line, state)
    if key == "1":
        return Step(Kind.EFFECT, (), state, "callback:request", specialty=specialty, effect="callback")
    if key == "2":
        said = each(line, state, phrases(line, "record_intro"))
        return step(Kind.RECORD, line, state, said, "record:start", specialty=specialty)
    if key == "3" and state.has(DESK) and line.directory is not None:
        return _transfer(line, line.directory, state, line.directory.file.default)
    return None


# How a transfer ended, as the phone layer reads Twilio's DialCallStatus or QueueResult
# (ivr/phone/transfers.py): "completed" after a conversation; the queue's "left" (the caller pressed
# star), "waited" (the longest wait passed), "closed" (closing time came) and "hangup" (the caller
# hung up while waiting); "unknown" when the line
# cannot tell whether anyone took the call; every other outcome is a transfer that did not connect.
TALKED = "completed"
NOT_CONNECTED = frozenset({"busy", "no-answer", "failed", "canceled", "declined", "queue-full", "error"})
_LEADS = {"left": "queue_left", "waited": "queue_waited", "unknown": "transfer_unknown"}


def after_dial(line: Line, state: CallState, status: str, now: datetime | None = None) -> Step:
    """A transfer ended: goodbye if the caller talked to someone, else a call back or a recorded
    question, after saying why (could not connect, left the queue, waited too long, closed now)."""
    if status in (TALKED, "hangup"):  # (a caller who hung up in the queue hears nothing more)
        return goodbye(line, state, f"dial:{status}")
    specialty = specialty_for_state(line, state)
    if status == "closed" and line.directory is not None and specialty is not None:
        sorry = _closed(line, state, specialty, now)
    elif status in _LEADS:
        sorry = each(line, state, phrases(line, _LEADS[status]))
    else:
        status = status if status in NOT_CONNECTED else "failed"
        sorry = each(line, state, phrases(line, "dial_failed"))
    if state.node == EMERGENCY:  # emergency help did not answer: the advice again, first of all
        return gather(line, state, [*sorry, *here(line, state)], f"dial:{status}")
    if state.node == SPECIALIST:  # the help desk, offered instead, did not answer either
        state = replace(state, flags=state.flags & ~DESK)
        return gather(line, state, [*sorry, *here(line, state)], f"dial:{status}")
    return specialist_menu(line, state, sorry, f"dial:{status}", now)


def outcome(line: Line, state: CallState, what: str, result: str, detail: str) -> Step:
    """After an effect or a recording: tell the caller how it went, then carry on."""
    if what == "sms":

        def told(lang: str) -> list[str]:
            p = line.prompts(lang).phrases
            said = {
                "sent": p.sms_sent,
                "saved": p.sms_saved,
                "no_number": p.no_number,
                "capped": p.sms_capped,
                "not_allowed": p.sms_not_allowed,
            }
            return [said.get(result, p.sms_failed)]

        lead = each(line, state, told)
        if is_playing(line, state):
            return play(line, state, f"sms:{result}", lead=lead)
        return gather(
            line, state, [*lead, *here(line, state, full=False)], f"sms:{result}"
        )  # the end's choices
    if result == "no_number":  # no call back without a number: a question, or back
        said = each(
            line,
            state,
            lambda lang: [
                line.prompts(lang).phrases.no_number,
                wording.record_offer(line, lang),
                line.prompts(lang).phrases.go_back,
            ],
        )
        return gather(line, state, said, f"{what}:{result}")
    if result == "empty":  # the caller can still choose either way
        said = each(line, state, phrases(line, "record_empty"))
        return gather(line, state, [*said, *here(line, state, full=False)], f"{what}:{result}")
    specialty = specialty_for_state(line, state)

    def told_back(lang: str) -> list[str]:
        p = line.prompts(lang).phrases
        name = name_of(line, specialty, lang)
        if what == "callback" and result == "saved":
            return [p.callback_saved.format(name=name, digits=" ".join(detail))]
        if what == "record" and result == "saved":
            return [p.record_saved.format(name=name)]
        return [p.callback_failed if what == "callback" else p.record_failed]

    build: Build = told_back
    return return_to(line, state, f"{what}:{result}", lead=each(line, state, build))
