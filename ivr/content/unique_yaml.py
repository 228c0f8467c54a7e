"""YAML as the content files are read: PyYAML's safe loader, refusing a key written twice.

YAML says a mapping's keys are unique, but PyYAML (like most loaders) silently keeps the last of two
equal keys: a second `goodbye:` in prompts, a second `en:` in the tree or a second `mon-fri:` in the
directory would replace the first without a word. Here every mapping, at any depth, is checked on
the composed node graph before anything is built, and `load` raises `DuplicateKeys` naming each
repeat with both lines.

Merge keys (`<<: *defaults`, `<<: [*a, *b]`) may share a mapping, but never a key: PyYAML lets a
mapping's own key override a merged one, and an earlier merge source override a later one, both
without a word, so one set of hours or one rate name would vanish as surely as with a key written
twice. Here a key gets its value from one place only: `<<` written twice in one mapping, a key
given by two merge sources, and a mapping's own key that a merge source also gives are each refused
with both lines (the merged key's line is where its source mapping writes it).

PyYAML has no option for this (ruamel.yaml refuses duplicates, but would be a second YAML library
for this one check, and the loader's line numbers come from PyYAML's node graph).
"""

from __future__ import annotations

import contextlib
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
    why: str = "each key is written once (YAML keeps only the last)"


MERGED_TWICE = "a key comes from one merge source only (YAML would keep one and drop the other)"
OVERRIDES_MERGED = "a key merged in with << is not written again (YAML would drop the merged value)"


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
    """Every key given twice in a mapping under `root` (any depth; each node once, so an alias is
    checked where its anchor is): written twice, `<<` written twice, or given by two of the mapping's
    own keys and merge sources. On the composed graph: building a mapping flattens its `<<` merges
    into the node, after which nothing tells a merged key from a written one."""
    found: set[Repeat] = set()
    todo = [root] if root is not None else []
    done: set[int] = set()
    while todo:
        node = todo.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(node, MappingNode):
            todo += [child for pair in node.value for child in pair]
            found.update(_repeats_in(loader, node))
        elif isinstance(node, SequenceNode):
            todo += node.value
    return sorted(found, key=lambda r: (r.line, r.first_line, str(r.key)))


def _repeats_in(loader: yaml.SafeLoader, node: MappingNode) -> list[Repeat]:
    """The keys of one mapping given more than once, by its own keys or its merge sources."""
    found: list[Repeat] = []
    seen: dict[Any, yaml.Mark] = {}
    merges: list[Node] = []
    first_merge: yaml.Mark | None = None
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            if first_merge is not None:  # PyYAML would merge both, the later's keys silently winning
                found.append(Repeat("<<", first_merge.line + 1, key_node.start_mark.line + 1))
            first_merge = first_merge or key_node.start_mark
            merges += value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            continue
        found += _add(loader, seen, key_node, key_node.start_mark, "")
    own = dict(seen)
    for source in merges:
        for key_node, mark in _keys_of(loader, source, set()):
            why = OVERRIDES_MERGED if _key(loader, key_node) in own else MERGED_TWICE
            found += _add(loader, seen, key_node, mark, why)
    return found


def _add(
    loader: yaml.SafeLoader, seen: dict[Any, yaml.Mark], key_node: Node, mark: yaml.Mark, why: str
) -> list[Repeat]:
    """Note that `key_node` gives its key at `mark`; the repeat if `seen` has it from elsewhere."""
    if not isinstance(key_node, ScalarNode):
        return []
    key = _key(loader, key_node)
    try:
        first = seen.setdefault(key, mark)
    except TypeError:  # not hashable: the safe constructor refuses it itself
        return []
    if first is mark:
        return []
    lines = sorted((first.line + 1, mark.line + 1))
    return [Repeat(key, lines[0], lines[1], why) if why else Repeat(key, lines[0], lines[1])]


def _key(loader: yaml.SafeLoader, key_node: Node) -> Any:
    # "yes" and "true" are one key, as built; a key that is not a scalar is not compared.
    return loader.construct_object(key_node) if isinstance(key_node, ScalarNode) else None


def _keys_of(loader: yaml.SafeLoader, source: Node, visiting: set[int]) -> list[tuple[Node, yaml.Mark]]:
    """The keys a merge source mapping gives, its own and (not overridden: that is reported where the
    source is checked) those it merges in itself, each with the mark where it is written."""
    if not isinstance(source, MappingNode) or id(source) in visiting:
        return []  # not a mapping: PyYAML's constructor refuses it; a loop: merged once
    visiting = visiting | {id(source)}
    keys: list[tuple[Node, yaml.Mark]] = []
    nested: list[Node] = []
    for key_node, value_node in source.value:
        if key_node.tag == MERGE_TAG:
            nested += value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        else:
            keys.append((key_node, key_node.start_mark))
    for inner in nested:
        keys += _keys_of(loader, inner, visiting)
    given: dict[Any, tuple[Node, yaml.Mark]] = {}
    for key_node, mark in keys:
        with contextlib.suppress(TypeError):  # an unhashable key: refused by the constructor
            given.setdefault(_key(loader, key_node), (key_node, mark))
    return list(given.values())


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
