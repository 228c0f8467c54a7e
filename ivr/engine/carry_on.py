"""Carrying on where a returning caller stopped: the offer at a call's start, and what answers it.

A caller the line welcomes back who stopped inside a topic on an earlier call (the edge keeps the
place, as a `Place`, for 30 days: ivr.store) hears "Welcome back", the emergency sentence and the
disclaimer, then the topic's title and the key: "Last time you were listening to Symptoms. To carry
on, press 1." Nothing more of the topic is said before they choose: the phone may be shared.

- 1, or "carry on", "yes", "next", "जारी रखें", "हाँ", "आगे": the part they were hearing (it may not
  have been heard to its end), as if they had never left.
- "No", "no thanks", "नहीं": declined, as silence is (the main menu's options), no miss counted.
- 9, help, 7, "more time": said for the offer, which stays.
- Silence: on to the main menu's options after the usual wait, as the welcome goes on; a caller
  who presses nothing still reaches every topic.
- Anything else: taken as said at the main menu ("treatment", 2, *, #, 0, 5).
"""

from __future__ import annotations

from dataclasses import replace

from ivr.engine import wording
from ivr.engine.model import CARRY_ON, CHOSEN, GREETED, KEPT, REMEMBERED, SAFETY, CallState, Line, Place, Step
from ivr.engine.moves import play
from ivr.engine.talk import Said, each, gather, here, is_playing
from ivr.engine.understanding import Heard

# What is done at the offer itself (the rest as at the main menu): the offer's 1 and its words,
# and the actions that say the offer again (repeat, help, speed, "more time").
OFFER_ACTIONS = frozenset({"repeat", "help", "rate", "slower", "faster", "more_time"})
# The offer's "no" (the understanding's result for its words at the offer: ivr.engine.understanding).
DECLINE = ("action", "decline")


def can_offer(line: Line, place: Place | None) -> bool:
    """Whether a saved place is still a part of a topic (the content may have changed since)."""
    tree = line.content.tree
    return place is not None and place.node in tree.sections and 0 <= place.part < tree.part_count(place.node)


def offer(line: Line, state: CallState, place: Place, event: str) -> Step:
    """The first step of a returning caller's call who stopped inside a topic: "Welcome back", the
    emergency sentence (unless said already), the disclaimer, then the topic's title and the key."""
    lang = state.lang
    p = line.prompts(lang).phrases
    there = replace(
        state,
        node=CARRY_ON,
        part=0,
        ret=place.node,
        ret_part=place.part,
        flags=(state.flags | CHOSEN | SAFETY) & ~(GREETED | KEPT),
    )
    said: Said = [(p.welcome_back, lang)]
    if not state.has(SAFETY):
        said.append((wording.safety(line, lang), lang))
    said.append((p.disclaimer, lang))
    return gather(line, there, [*said, *here(line, there)], event)


def answers_offer(heard: Heard | None) -> Heard | None:
    """What was pressed or said, if the offer itself answers it (1, "carry on", repeat, help, speed,
    more time), sure: none of these needs a "Did you mean ...?"; None for anything else."""
    if heard is None:
        return None
    if (heard.kind == "key" and heard.value == "1") or (
        heard.kind == "action" and heard.value in OFFER_ACTIONS
    ):
        return replace(heard, sure=True)
    if (heard.kind, heard.value) == ("action", "next"):  # "next", "go on", "आगे": on with the topic
        return Heard("key", "1")
    return None


def resume(line: Line, state: CallState) -> Step:
    """1 at the offer: the part the caller was hearing when they stopped."""
    back = replace(
        state, node=state.ret, part=state.ret_part, ret="", ret_part=0, flags=state.flags | GREETED
    )
    return play(line, back, "carry_on")


def at_main_menu(line: Line, state: CallState) -> CallState:
    """The offer not taken: the caller is at the main menu, welcomed (its options not yet said)."""
    root = line.content.tree.root
    return replace(state, node=root, part=0, ret="", ret_part=0, flags=state.flags | GREETED)


def declined(line: Line, state: CallState, event: str = "carry_on:declined") -> Step:
    """Silence or "no" at the offer: the main menu's options and how to speak, as the welcome goes on."""
    root = line.content.tree.root
    menu = replace(at_main_menu(line, state), visited=state.visited | line.menu_bit(root))
    said = each(line, menu, lambda lang: wording.menu_prompt(line, lang, root, full=True)[1:])  # no title
    return gather(line, menu, said, event)


def listening_at(line: Line, state: CallState) -> Place | None:
    """The part a caller is at in a topic, for the edge to keep for their next call; None anywhere
    else, and for a caller whose language was only kept by default (never welcomed back, so never
    offered it: nothing is kept without that use), and for one who did not agree to be remembered."""
    if state.has(KEPT) or not state.has(REMEMBERED) or not is_playing(line, state):
        return None
    return Place(state.node, state.part)


def topic_finished(line: Line, state: CallState) -> bool:
    """Whether the caller is at a topic's end (they heard, or skipped, its last part): the place
    kept for them is forgotten."""
    tree = line.content.tree
    node = state.node
    return node in tree.sections and state.part >= tree.part_count(node) and tree.neighbour(node, +1) is None
