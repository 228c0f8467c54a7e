"""The listening figures per topic, worked out from whole journeys (a pure function over rows).

The definitions (README.md, "Listening figures and exports", says the same):
- A call reached a topic when any of its journey events is at one of the topic's sections.
- A topic's parts are the parts of all its sections (a series' sections one after another).
- A part was heard when the line went on from it by itself: the call's next journey event after
  the one that started the part (or said it again) is "play", the step the line takes when a part
  and the pause after it passed with no key, no words and no hang-up. A part skipped (1, 2, *,
  0...), or one the caller hung up in, was not heard. A key pressed in the pause after a part
  counts as a skip: the line cannot tell it from one pressed while the part was said.
- Where a call ended: the node of its last journey event, for calls whose end is recorded; inside
  a topic, the part it was at (or the topic's end). A call whose end is recorded but no step (its
  start was lost) counts as ended, at no place.
- A transfer was requested when the line began to put the caller through to a person (the events
  "transfer:<specialty>", "operator", "emergency:transfer"), and accepted when the call's next
  transfer outcome is "dial:completed": someone pressed 1 at the whisper or took the call from the
  queue, and they talked. Asked when no one could take the call: "closed:<specialty>" or
  "operator:unavailable" (the caller was offered a call back or a recorded question instead).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ivr.content.tree import Tree
from ivr.store import EventRow, Journey

HEARD_BY_ITSELF = "play"  # the step after a part that ended, and its pause passed, by itself
TRANSFER_STARTS = ("transfer:",)  # and a transfer to a specialty
TRANSFERS = frozenset({"operator", "emergency:transfer"})  # exactly: "operator:unavailable" is none
TRANSFER_TAKEN = "dial:completed"
NO_ONE_FREE = ("closed:", "operator:unavailable")
HALF, THREE_QUARTERS = 0.5, 0.75


@dataclass(frozen=True, slots=True)
class TopicRow:
    """One topic's listening: calls (and distinct known callers) that reached it, and how many of
    those calls heard at least half and at least three quarters of its parts (percent: of the
    calls that reached it, rounded to a whole number; 0 when none did)."""

    topic: str
    parts: int
    calls: int
    callers: int
    half: int
    half_percent: int
    three_quarters: int
    three_quarters_percent: int


@dataclass(frozen=True, slots=True)
class PartEnd:
    """Ended calls whose last event was in a topic: at `node`'s `part` (0-based; part_count(node)
    is the topic's end)."""

    topic: str
    node: str
    part: int
    calls: int


@dataclass(frozen=True, slots=True)
class TransferRow:
    """Transfers asked for at one place (a topic, else a node): begun, accepted, and asks when no
    one could take the call."""

    where: str
    requested: int
    accepted: int
    no_one_free: int


@dataclass(frozen=True, slots=True)
class ListeningFigures:
    """Every figure of the figures page, each list in a stable order (see `listening_figures`)."""

    calls: int  # calls in the period
    ended: int  # of them, calls whose end is recorded
    topics: list[TopicRow]
    ended_at: list[tuple[str, int]]  # (node, ended calls there), most first, then by node
    part_ends: list[PartEnd]
    transfers: list[TransferRow]
    transfers_total: TransferRow


def topics_in_menu_order(tree: Tree) -> list[str]:
    """The topics as the menus offer them: depth first from the main menu, each once."""
    found: list[str] = []

    def visit(node: str) -> None:
        if node in tree.sections or tree.is_series(node):
            topic = tree.topic_of(node)
            if topic not in found:
                found.append(topic)
            return
        for child in tree.children(node):
            visit(child)

    visit(tree.root)
    return found


def is_topic(tree: Tree, node: str) -> bool:
    """Whether a node id names a topic: a series, or a section of none."""
    return node in tree.series or (node in tree.sections and tree.series_of(node) is None)


def topic_parts(tree: Tree, topic: str) -> list[tuple[str, int]]:
    """Every (section, part) of a topic, in the order they are said."""
    return [(node, part) for node in tree.topic_sections(topic) for part in range(tree.part_count(node))]


def heard_parts(tree: Tree, events: Sequence[EventRow]) -> set[tuple[str, int]]:
    """The (section, part)s a call heard: each one the line went on from by itself."""
    heard = set()
    for before, after in itertools.pairwise(events):
        if (
            after.event == HEARD_BY_ITSELF
            and before.node in tree.sections
            and 0 <= before.part < tree.part_count(before.node)
        ):
            heard.add((before.node, before.part))
    return heard


def percent(count: int, of: int) -> int:
    """count as a whole percentage of `of` (0 when `of` is 0)."""
    return round(100 * count / of) if of else 0


def listening_figures(tree: Tree, journeys: Sequence[Journey]) -> ListeningFigures:
    """The figures for these calls, on this content tree. Nodes the tree no longer has still count
    where a call ended and where it asked for a transfer, under their ids."""
    topics = topics_in_menu_order(tree)
    section_topic = {node: topic for topic in topics for node in tree.topic_sections(topic)}
    reached: dict[str, int] = Counter()
    callers: dict[str, set[str]] = defaultdict(set)
    half: dict[str, int] = Counter()
    most: dict[str, int] = Counter()
    ended_at: dict[str, int] = Counter()
    part_ends: dict[tuple[str, str, int], int] = Counter()
    asked: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    ended = 0
    for journey in journeys:
        events = journey.events
        heard = heard_parts(tree, events)
        for topic in dict.fromkeys(section_topic[e.node] for e in events if e.node in section_topic):
            reached[topic] += 1
            if journey.call.caller_hash:
                callers[topic].add(journey.call.caller_hash)
            parts = topic_parts(tree, topic)
            share = sum(1 for part in parts if part in heard) / len(parts) if parts else 0.0
            half[topic] += share >= HALF
            most[topic] += share >= THREE_QUARTERS
        if journey.call.ended_at is not None:
            ended += 1
        if journey.call.ended_at is not None and events:  # a call without steps ended nowhere to name
            last = events[-1]
            ended_at[last.node] += 1
            if last.node in section_topic:
                part_ends[(section_topic[last.node], last.node, last.part)] += 1
        _count_transfers(events, section_topic, asked)
    rows = [
        TopicRow(
            topic=topic,
            parts=len(topic_parts(tree, topic)),
            calls=reached[topic],
            callers=len(callers[topic]),
            half=half[topic],
            half_percent=percent(half[topic], reached[topic]),
            three_quarters=most[topic],
            three_quarters_percent=percent(most[topic], reached[topic]),
        )
        for topic in topics
    ]
    order = {node: i for i, node in enumerate(n for t in topics for n in tree.topic_sections(t))}
    ends = [PartEnd(topic, node, part, n) for (topic, node, part), n in part_ends.items()]
    ends.sort(key=lambda end: (topics.index(end.topic), order[end.node], end.part))
    transfers = [TransferRow(where, *counts) for where, counts in sorted(asked.items())]
    total = TransferRow(
        "",
        *(sum(row[i] for row in asked.values()) for i in range(3)),  # requested, accepted, none free
    )
    return ListeningFigures(
        calls=len(journeys),
        ended=ended,
        topics=rows,
        ended_at=sorted(ended_at.items(), key=lambda item: (-item[1], item[0])),
        part_ends=ends,
        transfers=transfers,
        transfers_total=total,
    )


def _count_transfers(
    events: Sequence[EventRow], section_topic: dict[str, str], asked: dict[str, list[int]]
) -> None:
    """Add a call's transfers to `asked` ([requested, accepted, no one free] by place): an
    acceptance counts for the place of the transfer it ended."""
    place: str | None = None  # where the transfer being made was asked for
    for event in events:
        where = section_topic.get(event.node, event.node)
        if event.event in TRANSFERS or event.event.startswith(TRANSFER_STARTS):
            place = where
            asked[where][0] += 1
        elif event.event.startswith("dial:") and place is not None:
            if event.event == TRANSFER_TAKEN:
                asked[place][1] += 1
            place = None
        elif event.event.startswith(NO_ONE_FREE):
            asked[where][2] += 1


def call_language(journey: Journey, languages: Sequence[str], default: str) -> str:
    """The language a call was in: the last one chosen on it ("language:hi"; "language:default"
    is the line's default), else the one it started in (a known caller's); "" when neither."""
    for event in reversed(journey.events):
        kind, _, value = event.event.partition(":")
        if kind == "language" and value in languages:
            return value
        if kind == "language" and value == "default":
            return default
    return journey.call.language or ""
