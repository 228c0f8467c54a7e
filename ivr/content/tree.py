"""The validated, in-memory menu tree that the engine walks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ivr.content.models import Menu, Option, Prompts, Section

if TYPE_CHECKING:
    from ivr.content.directory import DirectoryFile


@dataclass(frozen=True)
class Tree:
    """Menus and sections (per language) keyed by id, with each node's parent (the root has none)."""

    root: str
    menus: dict[str, Menu]
    sections: dict[str, dict[str, Section]]  # id -> language -> section
    parent: dict[str, str] = field(default_factory=dict)

    def is_menu(self, node: str) -> bool:
        """True when the node id names a menu."""
        return node in self.menus

    def has(self, node: str) -> bool:
        """True when the node id names a menu or a section."""
        return node in self.menus or node in self.sections

    def section(self, node: str, lang: str) -> Section:
        """A section in one language."""
        return self.sections[node][lang]

    def part_count(self, node: str) -> int:
        """How many parts a node has: a section's parts (equal in every language), 1 for a menu."""
        by_lang = self.sections.get(node)
        return len(next(iter(by_lang.values())).parts) if by_lang else 1

    def title(self, node: str, lang: str) -> str:
        """The spoken title of a menu or section."""
        return self.menus[node].title[lang] if node in self.menus else self.sections[node][lang].title

    def back_of(self, node: str) -> str:
        """The node that * (back) leads to: the parent, or the root for the root."""
        return self.parent.get(node, self.root)

    def option_to(self, node: str) -> Option:
        """The option of the parent menu that leads to a node."""
        return next(o for o in self.menus[self.parent[node]].options if o.goto == node)

    def keys_to(self, node: str) -> list[str]:
        """The key presses that reach a node from the root menu."""
        keys: list[str] = []
        while node != self.root:
            keys.append(self.option_to(node).key)
            node = self.parent[node]
        return list(reversed(keys))

    def below(self, node: str) -> list[str]:
        """Every node under a menu, nearest first."""
        found: list[str] = []
        frontier = [node]
        while frontier:
            children = [o.goto for n in frontier if n in self.menus for o in self.menus[n].options]
            found += children
            frontier = children
        return found

    def nodes(self) -> list[str]:
        """Every node id, menus first."""
        return [*self.menus, *self.sections]


@dataclass(frozen=True)
class Content:
    """Everything the line can say: the tree plus the prompts of each language."""

    tree: Tree
    prompts: dict[str, Prompts]
    default_language: str
    directory: DirectoryFile | None = None

    @property
    def languages(self) -> list[str]:
        """The languages, default first."""
        return [self.default_language, *sorted(set(self.prompts) - {self.default_language})]
