"""Sets of what callers say and where each should land, and how to judge where the line took them.

The format is ../shared/caller-utterances.yaml's: per language, entries {say, to, ctx}; `to` lists
acceptable destinations (a node id, or emergency, person, same, next, previous, parent, main,
language_hi, language_en); `ctx` is where it is said (main, topic, both). Used by the
understanding test and bench; no Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.content import unique_yaml
from ivr.content.tree import Tree
from ivr.engine import CONFIRM, EMERGENCY, SPECIALIST, Kind, Step

TOPIC_CONTEXT = ("about", 1)  # inside a topic: its second part, so "previous" and "next" both exist
# What is said at the main menu is said at the sub-menus too: a caller names anything from anywhere.
SUBMENU_CONTEXTS = ("symptoms_causes", "treatment")
CLASSES = ("emergency", "symptom description", "person", "topic", "action")


@dataclass(frozen=True)
class Utterance:
    """One thing a caller says, where, and where it may land."""

    say: str
    to: tuple[str, ...]
    ctx: str  # "main", "topic" or a sub-menu's id (an entry for both is said at each of them)
    lang: str

    @property
    def kind(self) -> str:
        """Its class, for a confusion table."""
        to = set(self.to)
        if "emergency" in to:
            return "emergency"
        if to == {"symptoms", "person"}:
            return "symptom description"
        if "person" in to and not to - {"person", "same", "main", "specialists"}:
            return "person"
        if to & {"same", "next", "previous", "parent", "main", "language_hi", "language_en"}:
            return "action"
        return "topic"


def load(path: Path) -> list[Utterance]:
    """Every utterance of a set, one per context it is said in: an entry for the main menu is said
    at the sub-menus too (SUBMENU_CONTEXTS)."""
    data, _ = unique_yaml.load(path.read_text(encoding="utf-8"))  # a second `en:` would drop the first
    found: list[Utterance] = []
    for lang, entries in data.items():
        for entry in entries:
            contexts = ("main", "topic") if entry["ctx"] == "both" else (entry["ctx"],)
            if "main" in contexts:
                contexts = (*contexts, *SUBMENU_CONTEXTS)
            for ctx in contexts:
                found.append(Utterance(str(entry["say"]), tuple(entry["to"]), ctx, lang))
    return found


def start(tree: Tree, utterance: Utterance) -> tuple[str, int]:
    """The node and part where an utterance is said."""
    if utterance.ctx == "main":
        return (tree.root, 0)
    if utterance.ctx == "topic":
        return TOPIC_CONTEXT
    return (utterance.ctx, 0)


def landed(tree: Tree, start: tuple[str, int], step: Step) -> str:
    """Where a reply left the caller, in the set's terms: a node, emergency, person, confirm
    (the line asked "Did you mean...?"), miss (not understood), or same."""
    state = step.state
    if step.kind is Kind.TRANSFER or state.node == SPECIALIST:
        return "person"
    if step.event in ("invalid", "invalid:warning"):
        return "miss"
    if state.node == EMERGENCY:
        return "emergency"
    if state.node == CONFIRM:
        return "confirm"
    return state.node


def is_right(tree: Tree, utterance: Utterance, start: tuple[str, int], step: Step, lang_after: str) -> bool:
    """Whether the reply is one of the places the utterance may land."""
    where = landed(tree, start, step)
    node, part = start
    state = step.state
    for to in utterance.to:
        if to in ("emergency", "person") and where == to:
            return True
        if to == "same" and where == node and state.part == part and step.event not in ("invalid",):
            return True
        if to == "next" and (where, state.part) != (node, part) and _after(tree, start, (where, state.part)):
            return True
        if to == "previous" and where == node and state.part == part - 1:
            return True
        if to == "parent" and where == tree.back_of(node):
            return True
        if to == "main" and where == tree.root:
            return True
        if to.startswith("language_") and lang_after == to.removeprefix("language_"):
            return True
        if to == where or (tree.is_series(to) and where == tree.first_section(to)):
            return True
    return False


def _after(tree: Tree, start: tuple[str, int], there: tuple[str, int]) -> bool:
    node, part = start
    if there[0] == node:
        return there[1] == part + 1
    return tree.neighbour(node, +1) == there[0] and there[1] == 0
