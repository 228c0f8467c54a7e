"""Load and validate prompts/ and knowledge/ at start-up, naming file and line on error."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ivr.content.models import RESERVED_KEYS, Prompts, Section, SectionMeta, TreeFile
from ivr.content.tree import Content, Tree

M = TypeVar("M", bound=BaseModel)
MAX_KEY_PRESSES = 3
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.S)


class ContentError(Exception):
    """Content files are broken; each problem names its file and line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("content is invalid:\n  " + "\n  ".join(self.problems))


def _line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int:
    """The 1-based line of the YAML node at a pydantic error location (best effort)."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(step)]
            if not match:
                break
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _parse_yaml(path: Path, text: str, line_offset: int = 0) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text, returning the data and its node graph (for line numbers)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 1 if mark else 1) + line_offset
        raise ContentError([f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    return data, node


def _validate(model: type[M], data: Any, path: Path, node: yaml.Node | None, line_offset: int = 0) -> M:
    """Validate data against a model, turning errors into file:line messages."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            line = _line_of(node, err["loc"]) + line_offset
            problems.append(f"{path}:{line}: {where}: {err['msg']}")
        raise ContentError(problems) from exc


def load_prompts(path: Path) -> Prompts:
    """Load and validate one language's prompts file."""
    data, node = _parse_yaml(path, _read(path))
    return _validate(Prompts, data, path, node)


def load_section(path: Path) -> Section:
    """Load one Markdown section: YAML front matter, then parts separated by blank lines."""
    text = _read(path)
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ContentError([f"{path}:1: a section starts with front matter between '---' lines"])
    data, node = _parse_yaml(path, match.group(1), line_offset=1)
    meta = _validate(SectionMeta, data, path, node, line_offset=1)
    body = text[match.end() :]
    parts = tuple(" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip())
    if not parts:
        body_line = text[: match.end()].count("\n") + 1
        raise ContentError([f"{path}:{body_line}: section has no text after its front matter"])
    return _validate(
        Section, {"id": path.stem, "title": meta.title, "source": meta.source, "parts": parts}, path, None
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError([f"{path}:1: cannot read: {exc}"]) from exc


def load_tree(knowledge_dir: Path) -> Tree:
    """Load tree.yaml and every section, then check references, reachability and depth."""
    problems: list[str] = []
    sections: dict[str, Section] = {}
    for path in sorted((knowledge_dir / "sections").glob("*.md")):
        try:
            sections[path.stem] = load_section(path)
        except ContentError as exc:
            problems.extend(exc.problems)
    tree_path = knowledge_dir / "tree.yaml"
    try:
        data, node = _parse_yaml(tree_path, _read(tree_path))
        tree_file = _validate(TreeFile, data, tree_path, node)
    except ContentError as exc:
        raise ContentError([*exc.problems, *problems]) from exc

    def at(*loc: int | str) -> str:
        return f"{tree_path}:{_line_of(node, loc)}"

    for sid in sections:
        if sid in tree_file.menus:
            problems.append(f"{at('menus', sid)}: id {sid!r} names both a menu and a section")
    if tree_file.root not in tree_file.menus:
        problems.append(f"{at('root')}: root {tree_file.root!r} is not a menu")

    parent: dict[str, str] = {}
    for mid, menu in tree_file.menus.items():
        said: dict[str, str] = {}
        keys: set[str] = set()
        for i, option in enumerate(menu.options):
            where = at("menus", mid, "options", i)
            if option.key in keys:
                problems.append(f"{where}: duplicate key {option.key!r} in menu {mid!r}")
            keys.add(option.key)
            if option.key in RESERVED_KEYS:
                problems.append(f"{where}: key {option.key!r} is reserved")
            if option.goto not in tree_file.menus and option.goto not in sections:
                problems.append(f"{where}: goto {option.goto!r} is not a menu or a section")
            elif option.goto == tree_file.root:
                problems.append(f"{where}: goto {option.goto!r} leads back to the root; use # instead")
            elif option.goto in parent:
                problems.append(
                    f"{where}: {option.goto!r} is already reached from {parent[option.goto]!r};"
                    " each node has one parent so that * (back) is unambiguous"
                )
            else:
                parent[option.goto] = mid
            for phrase in [option.label, *option.say]:
                norm = " ".join(phrase.lower().split())
                if said.get(norm, option.key) != option.key:
                    problems.append(f"{where}: phrase {phrase!r} also picks option {said[norm]!r}")
                said[norm] = option.key

    tree = Tree(root=tree_file.root, menus=dict(tree_file.menus), sections=sections, parent=parent)
    if not problems:
        problems.extend(_reachability(tree, tree_path, node))
    if problems:
        raise ContentError(problems)
    return tree


def _reachability(tree: Tree, tree_path: Path, node: yaml.Node | None) -> list[str]:
    """Every node must be reachable from the root within MAX_KEY_PRESSES, with no cycles."""
    problems = []
    for nid in tree.nodes():
        if nid == tree.root:
            continue
        seen = {nid}
        cur = nid
        while cur in tree.parent:
            cur = tree.parent[cur]
            if cur in seen:
                break
            seen.add(cur)
        where = (
            f"{tree_path}:{_line_of(node, ('menus', nid))}"
            if nid in tree.menus
            else f"{tree_path.parent / 'sections' / (nid + '.md')}:1"
        )
        if cur != tree.root:
            problems.append(f"{where}: {nid!r} cannot be reached from the root menu {tree.root!r}")
        elif nid in tree.sections and len(tree.keys_to(nid)) > MAX_KEY_PRESSES:
            problems.append(
                f"{where}: {nid!r} takes {len(tree.keys_to(nid))} key presses; the most is {MAX_KEY_PRESSES}"
            )
    return problems


def load_content(root: Path, default_language: str = "en") -> Content:
    """Load every content file under root (prompts/ and knowledge/) or raise ContentError."""
    problems: list[str] = []
    prompts = {}
    tree: Tree | None = None
    for path in sorted((root / "prompts").glob("*.yaml")):
        try:
            prompts[path.stem] = load_prompts(path)
        except ContentError as exc:
            problems.extend(exc.problems)
    if default_language not in prompts and not problems:
        problems.append(f"{root / 'prompts' / (default_language + '.yaml')}:1: missing prompts file")
    try:
        tree = load_tree(root / "knowledge")
    except ContentError as exc:
        problems.extend(exc.problems)
    if problems or tree is None:
        raise ContentError(problems)
    return Content(tree=tree, prompts=prompts, default_language=default_language)
