"""The validated, in-memory menu tree that the engine walks."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.content.models import Block, Menu, Option, Section, Series

EMERGENCY_TOKEN = "{emergency}"  # in a section's text: the emergency number from the line's settings


def fill(text: str, emergency_number: str) -> str:
    """A section's text with the {emergency} token replaced by the number as written."""
    return text.replace(EMERGENCY_TOKEN, emergency_number)


def reading(section: Section, emergency_number: str) -> list[Block]:
    """A section as it is read (on the web, in a text): its blocks in order, with a list that the
    spoken parts split joined into one, and the {emergency} number filled in."""
    blocks: list[Block] = []
    for block in (b for part in section.web for b in part):
        text = fill(block.text, emergency_number)
        items = tuple(fill(item, emergency_number) for item in block.items)
        last = blocks[-1] if blocks else None
        if items and last is not None and last.items and block.start == last.start + len(last.items):
            blocks[-1] = last.model_copy(update={"items": (*last.items, *items)})
        else:
            blocks.append(block.model_copy(update={"text": text, "items": items}))
    return blocks


@dataclass(frozen=True)
class Tree:
    """Menus, series and sections (per language) keyed by id, with each node's parent.

    A caller stops at menus and sections; a series is a run of sections heard one after
    another, entered at its first. The root has no parent; a section of a series has the series.
    """

    root: str
    menus: dict[str, Menu]
    sections: dict[str, dict[str, Section]]  # id -> language -> section
    parent: dict[str, str] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)

    def is_menu(self, node: str) -> bool:
        """True when the node id names a menu."""
        return node in self.menus

    def is_series(self, node: str) -> bool:
        """True when the node id names a series."""
        return node in self.series

    def has(self, node: str) -> bool:
        """True when the node id names a menu, a series or a section."""
        return node in self.menus or node in self.sections or node in self.series

    def is_stop(self, node: str) -> bool:
        """True for a place a call can be at: a menu or a section (a series is entered, not stopped at)."""
        return node in self.menus or node in self.sections

    def section(self, node: str, lang: str) -> Section:
        """A section in one language."""
        return self.sections[node][lang]

    def part_count(self, node: str) -> int:
        """How many parts a node has: a section's parts (equal in every language), 1 for a menu."""
        by_lang = self.sections.get(node)
        return len(next(iter(by_lang.values())).parts) if by_lang else 1

    def title(self, node: str, lang: str) -> str:
        """The spoken title of a menu, series or section."""
        if node in self.menus:
            return self.menus[node].title[lang]
        if node in self.series:
            return self.series[node].title[lang]
        return self.sections[node][lang].title

    def series_of(self, node: str) -> str | None:
        """The series a section belongs to, if any."""
        up = self.parent.get(node)
        return up if up in self.series else None

    def topic_of(self, node: str) -> str:
        """What a caller hears as one topic: the section's series, or the section itself."""
        return self.series_of(node) or node

    def topic_sections(self, node: str) -> list[str]:
        """The sections of a topic in the order they are heard: a series' sections, or the one."""
        if node in self.series:
            return [t.id for t in self.series[node].topics]
        return [node]

    def first_section(self, node: str) -> str:
        """Where entering a node lands: a series' first section; any other node itself."""
        return self.topic_sections(node)[0] if node in self.series else node

    def neighbour(self, node: str, step: int) -> str | None:
        """The section before (-1) or after (+1) this one in its series; None at either end."""
        topic = self.series_of(node)
        if topic is None:
            return None
        run = self.topic_sections(topic)
        at = run.index(node) + step
        return run[at] if 0 <= at < len(run) else None

    def back_of(self, node: str) -> str:
        """The menu that * (back) leads to: the menu above (above a series), or the root for the root."""
        up = self.parent.get(node, self.root)
        return self.parent.get(up, self.root) if up in self.series else up

    def option_to(self, node: str) -> Option:
        """The option of the parent menu that leads to a node (not for a section of a series)."""
        return next(o for o in self.menus[self.parent[node]].options if o.goto == node)

    def words_for(self, node: str, lang: str) -> list[str]:
        """What a caller may say to reach a node: its option's label and phrases, or for a
        section of a series, its title and the series' phrases for it."""
        topic = self.series_of(node)
        if topic is None:
            option = self.option_to(node)
            return [option.label[lang], *option.say.get(lang, [])]
        entry = next(t for t in self.series[topic].topics if t.id == node)
        return [self.sections[node][lang].title.rstrip(".।"), *entry.say.get(lang, [])]

    def keys_to(self, node: str) -> list[str]:
        """The key presses that reach a node from the root menu (a series' sections: the series')."""
        keys: list[str] = []
        while node != self.root:
            up = self.parent[node]
            if up not in self.series:
                keys.append(self.option_to(node).key)
            node = up
        return list(reversed(keys))

    def children(self, node: str) -> list[str]:
        """What a node leads to: a menu's options' targets, a series' sections, nothing for a section."""
        if node in self.menus:
            return [o.goto for o in self.menus[node].options]
        return self.topic_sections(node) if node in self.series else []

    def below(self, node: str) -> list[str]:
        """Every node under a menu or series, nearest first."""
        found: list[str] = []
        frontier = [node]
        while frontier:
            children = [c for n in frontier for c in self.children(n)]
            found += children
            frontier = children
        return found

    def nodes(self) -> list[str]:
        """Every node id a call can be at: menus first, then sections."""
        return [*self.menus, *self.sections]
