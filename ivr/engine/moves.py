"""Moving a call: to a menu, through a topic's parts, back from the emergency advice or a specialist."""

from __future__ import annotations

from dataclasses import replace

from ivr.engine import wording
from ivr.engine.model import CHOSEN, DESK, GREETED, HINTED, KEPT, LANGUAGE, SAFETY, CallState, Line, Step
from ivr.engine.talk import Said, each, gather, here, is_playing, prefixed


def welcome(line: Line, state: CallState, event: str, *, returning: bool = False, kept: bool = False) -> Step:
    """The main menu as a call first hears it: welcome, the emergency sentence (unless said already),
    the disclaimer and the options; on a caller's first call, the keys that work everywhere.

    `kept`: the language was kept by default, so first say how to switch, in each other language.
    """
    root = line.content.tree.root
    state = replace(state, node=root, part=0, ret="", ret_part=0)
    lang = state.lang
    p = line.prompts(lang).phrases
    said: Said = []
    if kept:
        others = [other for other in line.content.languages if other != lang]
        said += [(line.prompts(other).phrases.switch_language, other) for other in others]
    said.append((p.welcome_back if returning else p.welcome, lang))
    if not state.has(SAFETY):
        said.append((wording.safety(line, lang), lang))
    said.append((p.disclaimer, lang))
    said += [(text, lang) for text in wording.menu_prompt(line, lang, root, full=True)[1:]]  # no title
    if not returning:
        said += [(text, lang) for text in wording.key_lines(line, lang, wording.FIRST_CALL_KEYS)]
    flags = (state.flags | CHOSEN | GREETED | SAFETY | (KEPT if kept else 0)) & ~(0 if kept else KEPT)
    return gather(line, replace(state, flags=flags, visited=state.visited | line.menu_bit(root)), said, event)


def following(line: Line, state: CallState) -> CallState:
    """The place after this part: the next part, the next section of a series, or the topic's end."""
    tree = line.content.tree
    if state.part + 1 < tree.part_count(state.node):
        return replace(state, part=state.part + 1)
    after = tree.neighbour(state.node, +1)
    if after is not None:
        return replace(state, node=after, part=0)
    return replace(state, part=tree.part_count(state.node))


def preceding(line: Line, state: CallState) -> CallState | None:
    """The part before this one (the last of the section before, in a series); None at the first."""
    tree = line.content.tree
    if state.part > 0:
        return replace(state, part=state.part - 1)
    before = tree.neighbour(state.node, -1)
    return None if before is None else replace(state, node=before, part=tree.part_count(before) - 1)


def play(line: Line, state: CallState, event: str, lead: Said | None = None) -> Step:
    """A topic's part (the first one heard in a call adds the keys to move between parts), or its end."""
    said: Said = [*(lead or []), *here(line, state)]
    if is_playing(line, state) and not state.has(HINTED):
        said += each(line, state, lambda lang: wording.key_lines(line, lang, wording.TOPIC_KEYS))
        state = replace(state, flags=state.flags | HINTED)
    return gather(line, state, said, event)


def arrive(line: Line, state: CallState, event: str) -> Step:
    """Arrive at a node: a menu in full the first time this call, title and options after that; a
    topic (or series) at its first part; the main menu with the welcome if the call has not had it."""
    tree = line.content.tree
    state = replace(state, ret="", ret_part=0)
    if state.node == tree.root and not state.has(GREETED):
        return welcome(line, state, event)
    if tree.is_series(state.node) or state.node in tree.sections:
        return play(line, replace(state, node=tree.first_section(state.node), part=0), event)
    bit = line.menu_bit(state.node)
    revisit = bool(state.visited & bit)
    state = replace(state, visited=state.visited | bit)
    return gather(line, state, here(line, state, full=True, revisit=revisit), event)


def return_to(line: Line, state: CallState, event: str, lead: Said | None = None) -> Step:
    """Back from a system node to where the caller was: a topic at the part they were hearing."""
    tree = line.content.tree
    lead = lead or []
    if state.ret == LANGUAGE:
        back = replace(state, node=LANGUAGE, part=0, ret="", ret_part=0)
        return gather(line, back, [*lead, *here(line, back)], event)
    node = state.ret if tree.is_stop(state.ret) else tree.root
    part = state.ret_part if node == state.ret else 0
    back = replace(state, node=node, part=part, ret="", ret_part=0, flags=state.flags & ~DESK)
    if back.node in tree.sections:
        return play(line, back, event, lead=lead)
    if back.node == tree.root and not back.has(GREETED):
        return prefixed(welcome(line, back, event), lead)
    return gather(line, back, [*lead, *here(line, back, full=True, revisit=True)], event)
