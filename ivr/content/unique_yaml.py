"""YAML as the content files are read: PyYAML's safe loader, refusing a key written twice.

YAML says a mapping's keys are unique, but PyYAML (like most loaders) silently keeps the last of two
equal keys: a second `goodbye:` in prompts, a second `en:` in the tree or a second `mon-fri:` in the
directory would replace the first without a word. Here every mapping, at any depth, is checked on
the composed node graph before anything is built, and `load` raises `DuplicateKeys` naming each
repeat with both lines. Merge keys (`<<: *defaults`) keep YAML's meaning: a mapping's own keys
override merged ones; only a key written twice in the same mapping is refused.

PyYAML has no option for this (ruamel.yaml refuses duplicates, but would be a second YAML library
for this one check, and the loader's line numbers come from PyYAML's node graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Repeat:
    """A key written twice in one mapping; lines are 1-based, within the text given to `load`."""

    key: Any
    first_line: int
    line: int


class DuplicateKeys(yaml.YAMLError):
    """One or more mappings write a key twice (`repeats`, in document order)."""

    def __init__(self, repeats: list[Repeat]) -> None:
        self.repeats = repeats
        super().__init__(
            "; ".join(
                f"line {r.line}: duplicate key {r.key!r} (first at line {r.first_line})" for r in repeats
            )
        )


def repeats(loader: yaml.SafeLoader, root: Node | None) -> list[Repeat]:
    """Every key written twice in a mapping under `root` (any depth; each node once, so an alias is
    checked where its anchor is). On the composed graph: building a mapping flattens its `<<` merges
    into the node, after which an override would look like a repeat."""
    found: list[Repeat] = []
    todo = [root] if root is not None else []
    done: set[int] = set()
    while todo:
        node = todo.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(node, MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, value_node in node.value:
                todo += [value_node, key_node]
                if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = loader.construct_object(key_node)  # "yes" and "true" are one key, as built
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # not hashable: the safe constructor refuses it itself
                    continue
                if first is not key_node.start_mark:
                    found.append(Repeat(key, first.line + 1, key_node.start_mark.line + 1))
        elif isinstance(node, SequenceNode):
            todo += node.value
    return sorted(found, key=lambda r: (r.line, r.first_line))


def load(text: str) -> tuple[Any, Node | None]:
    """Parse one YAML document with PyYAML's safe loader: its data and its node graph (for line
    numbers). Raises yaml.YAMLError: DuplicateKeys when a mapping writes a key twice."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if found := repeats(loader, node):
            raise DuplicateKeys(found)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node
