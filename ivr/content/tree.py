"""The validated, in-memory menu tree that the engine walks."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.content.models import Menu, Prompts, Section


@dataclass(frozen=True)
class Tree:
    """Menus and sections keyed by id, with each node's parent (the root has none)."""

    root: str
    menus: dict[str, Menu]
    sections: dict[str, Section]
    parent: dict[str, str] = field(default_factory=dict)

    def is_menu(self, node: str) -> bool:
        """True when the node id names a menu."""
        return node in self.menus

    def has(self, node: str) -> bool:
        """True when the node id names a menu or a section."""
        return node in self.menus or node in self.sections

    def title(self, node: str) -> str:
        """The spoken title of a menu or section."""
        return self.menus[node].title if node in self.menus else self.sections[node].title

    def back_of(self, node: str) -> str:
        """The node that * (back) leads to: the parent, or the root for the root."""
        return self.parent.get(node, self.root)

    def keys_to(self, node: str) -> list[str]:
        """The key presses that reach a node from the root menu."""
        keys: list[str] = []
        while node != self.root:
            up = self.parent[node]
            keys.append(next(o.key for o in self.menus[up].options if o.goto == node))
            node = up
        return list(reversed(keys))

    def nodes(self) -> list[str]:
        """Every node id, menus first."""
        return [*self.menus, *self.sections]


@dataclass(frozen=True)
class Content:
    """Everything the line can say: the tree plus the prompts of each language."""

    tree: Tree
    prompts: dict[str, Prompts]
    default_language: str
