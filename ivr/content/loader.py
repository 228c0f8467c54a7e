"""Load and validate prompts/ and knowledge/ at start-up, naming file and line on error."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ivr import speech
from ivr.content import unique_yaml
from ivr.content.bundle import Content
from ivr.content.directory import DirectoryFile
from ivr.content.models import RESERVED_KEYS, Block, Menu, Prompts, Section, SectionMeta, TreeFile
from ivr.content.tree import Tree

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
    """Parse YAML text, returning the data and its node graph (for line numbers); a key written twice
    in any mapping is refused with both lines."""
    try:
        data, node = unique_yaml.load(text)
    except unique_yaml.DuplicateKeys as exc:
        # PyYAML would keep the last and drop the first without a word: name both.
        raise ContentError(
            [
                f"{path}:{r.line + line_offset}: duplicate key {r.key!r}, also at line"
                f" {r.first_line + line_offset}: {r.why}"
                for r in exc.repeats
            ]
        ) from exc
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


# What only a caller needs ("press star to go back") is marked {phone: ...}: said on the line, left
# off the web pages and the texts sent after a call.
_PHONE_ONLY = re.compile(r"\{phone:([^{}]*)\}")
# The only other mark: {emergency}, the emergency number of the line's settings.
_TOKENS = re.compile(r"\{phone:[^{}]*\}|\{emergency\}")
_ITEM = re.compile(r"^\s*-\s+(.*)$")
MAX_LIST_ITEMS = 9  # items are numbered in words, from the prompts' spoken numbers 1-9
SENTENCE_ENDS = ".!?।"


def counting_words(prompts: Prompts) -> list[str]:
    """How list items are numbered aloud in a language: the first spoken name of 1..9, capitalised."""
    names = {str(digit): said for digit, said in prompts.numbers.items()}
    said = [names[d][0] if names.get(d) else d for d in "123456789"]
    return [word[:1].upper() + word[1:] for word in said]


def _blocks(paragraph: str) -> list[tuple[str, list[str]]]:
    """A paragraph as (text, items) blocks: runs of plain lines, and runs of "- item" lines."""
    blocks: list[tuple[str, list[str]]] = []
    for raw in paragraph.splitlines():
        item = _ITEM.match(raw)
        if item:
            if not blocks or not blocks[-1][1]:
                blocks.append(("", []))
            blocks[-1][1].append(item.group(1).strip())
        elif raw.strip():
            if blocks and not blocks[-1][1]:
                blocks[-1] = (blocks[-1][0] + " " + raw.strip(), [])
            else:
                blocks.append((raw.strip(), []))
    return blocks


def load_section(path: Path, lang: str, counting: Sequence[str] | None = None) -> Section:
    """Load one Markdown section: YAML front matter, then parts separated by blank lines.

    A line starting with "- " is an item of a numbered list: spoken with its number in words
    (`counting`, "One." ... ; digits when not given), shown on the web as a list. A list that ends
    one part and starts the next is one list, numbered on.
    """
    words = list(counting or [str(n) for n in range(1, 10)])
    text = _read(path)
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ContentError([f"{path}:1: a section starts with front matter between '---' lines"])
    data, node = _parse_yaml(path, match.group(1), line_offset=1)
    meta = _validate(SectionMeta, data, path, node, line_offset=1)
    body = text[match.end() :]
    paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    if not paragraphs:
        body_line = text[: match.end()].count("\n") + 1
        raise ContentError([f"{path}:{body_line}: section has no text after its front matter"])
    problems = [
        f"{path}:{_line_in(text, paragraph)}: a '{{' or '}}' outside {{phone: ...}} or {{emergency}}"
        " (unclosed, nested or unknown?)"
        for paragraph in paragraphs
        if set(_TOKENS.sub("", paragraph)) & set("{}")
    ]
    parts: list[str] = []
    web: list[tuple[Block, ...]] = []
    number = 0  # items said so far in the current list
    for paragraph in paragraphs:
        spoken: list[str] = []
        shown: list[Block] = []
        for i, (plain, items) in enumerate(_blocks(paragraph)):
            if not items:
                number = 0
                spoken.append(_PHONE_ONLY.sub(r"\1", plain))
                shown.append(Block(text=" ".join(_PHONE_ONLY.sub(" ", plain).split())))
                continue
            if i > 0 or not web or not web[-1] or not web[-1][-1].items:
                number = 0  # a list goes on only from the end of the part before
            bad = [item for item in items if not item.endswith(tuple(SENTENCE_ENDS))]
            problems += [
                f"{path}:{_line_in(text, item)}: a list item must end a sentence (. ! ? or ।): {item!r}"
                for item in bad
            ]
            if number + len(items) > MAX_LIST_ITEMS:
                problems.append(
                    f"{path}:{_line_in(text, items[0])}: a list has at most {MAX_LIST_ITEMS} items"
                )
                continue
            for item in items:
                stop = "।" if item.endswith("।") else "."
                said = _PHONE_ONLY.sub(r"\1", item)
                spoken.append(f"{words[number]}{stop} {said}")
                number += 1
            web_items = tuple(" ".join(_PHONE_ONLY.sub(" ", item).split()) for item in items)
            shown.append(Block(items=tuple(i for i in web_items if i), start=number - len(items) + 1))
        parts.append(" ".join(" ".join(spoken).split()))
        web.append(tuple(b for b in shown if b.text or b.items))
    if problems:
        raise ContentError(problems)
    data = {"id": path.stem, "lang": lang, "meta": meta, "parts": tuple(parts), "web": tuple(web)}
    return _validate(Section, data, path, None)


def _line_in(text: str, fragment: str) -> int:
    return text[: text.find(fragment)].count("\n") + 1


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError([f"{path}:1: cannot read: {exc}"]) from exc


def _load_sections(
    sections_dir: Path, langs: Sequence[str], counting: Mapping[str, Sequence[str]]
) -> tuple[dict[str, dict[str, Section]], list[str]]:
    """Every section in every language; each must exist, with as many parts, in all of them."""
    problems: list[str] = []
    sections: dict[str, dict[str, Section]] = {}
    for lang in langs:
        for path in sorted((sections_dir / lang).glob("*.md")):
            try:
                sections.setdefault(path.stem, {})[lang] = load_section(path, lang, counting.get(lang))
            except ContentError as exc:
                problems.extend(exc.problems)
    for lang_dir in sorted(p for p in sections_dir.iterdir() if p.is_dir()) if sections_dir.is_dir() else []:
        if lang_dir.name not in langs:
            problems.append(f"{lang_dir}:1: no prompts/{lang_dir.name}.yaml for these sections")
    for sid, by_lang in sections.items():
        for lang in langs:
            if lang not in by_lang:
                problems.append(
                    f"{sections_dir / lang / (sid + '.md')}:1: missing: the {lang!r} text of {sid!r}"
                )
        counts = {lang: len(s.parts) for lang, s in by_lang.items()}
        if len(set(counts.values())) > 1:
            first = next(iter(by_lang.values()))
            problems.append(
                f"{sections_dir / first.lang / (sid + '.md')}:1: {sid!r} has different numbers of parts"
                f" per language: {counts}"
            )
    return sections, problems


def _texts(menu: Menu) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every per-language field of a menu, with its location inside the menu."""
    found: list[tuple[tuple[str | int, ...], dict[str, Any]]] = [(("title",), menu.title)]
    if menu.intro is not None:
        found.append((("intro",), menu.intro))
    for i, option in enumerate(menu.options):
        found.append((("options", i, "label"), option.label))
        if option.say:
            found.append((("options", i, "say"), option.say))
        if option.describes:
            found.append((("options", i, "describes"), option.describes))
    return found


def load_tree(
    knowledge_dir: Path,
    langs: Sequence[str] = ("en",),
    counting: Mapping[str, Sequence[str]] | None = None,
) -> Tree:
    """Load tree.yaml and every section, then check languages, references, reachability and depth."""
    sections, problems = _load_sections(knowledge_dir / "sections", langs, counting or {})
    tree_path = knowledge_dir / "tree.yaml"
    try:
        data, node = _parse_yaml(tree_path, _read(tree_path))
        tree_file = _validate(TreeFile, data, tree_path, node)
    except ContentError as exc:
        raise ContentError([*exc.problems, *problems]) from exc

    def at(*loc: int | str) -> str:
        return f"{tree_path}:{_line_of(node, loc)}"

    def check_languages(where: str, text: Mapping[str, Any], required: bool = True) -> None:
        if required and (missing := [lang for lang in langs if lang not in text]):
            problems.append(f"{where}: missing language(s) {missing}")
        if unknown := sorted(set(text) - set(langs)):
            problems.append(f"{where}: unknown language(s) {unknown}")

    for sid in sections:
        if sid in tree_file.menus:
            problems.append(f"{at('menus', sid)}: id {sid!r} names both a menu and a section")
    for sid in tree_file.series:
        if sid in tree_file.menus or sid in sections:
            problems.append(f"{at('series', sid)}: id {sid!r} names a series and a menu or section")
    if tree_file.root not in tree_file.menus:
        problems.append(f"{at('root')}: root {tree_file.root!r} is not a menu")

    parent: dict[str, str] = {}
    for mid, menu in tree_file.menus.items():
        for loc, text in _texts(menu):
            check_languages(at("menus", mid, *loc), text)
        said: dict[tuple[str, str], str] = {}
        keys: set[str] = set()
        for i, option in enumerate(menu.options):
            where = at("menus", mid, "options", i)
            if option.key in keys:
                problems.append(f"{where}: duplicate key {option.key!r} in menu {mid!r}")
            keys.add(option.key)
            if option.key in RESERVED_KEYS:
                problems.append(f"{where}: key {option.key!r} is reserved")
            target = option.goto
            if target not in tree_file.menus and target not in sections and target not in tree_file.series:
                problems.append(f"{where}: goto {target!r} is not a menu, a series or a section")
            elif target == tree_file.root:
                problems.append(f"{where}: goto {target!r} leads back to the root; use # instead")
            elif target in parent:
                problems.append(
                    f"{where}: {target!r} is already reached from {parent[target]!r};"
                    " each node has one parent so that * (back) is unambiguous"
                )
            else:
                parent[target] = mid
            for lang in langs:
                for phrase in [option.label.get(lang, ""), *option.say.get(lang, [])]:
                    norm = speech.normalise(phrase)
                    if norm and said.get((lang, norm), option.key) != option.key:
                        problems.append(
                            f"{where}: phrase {phrase!r} also picks option {said[(lang, norm)]!r}"
                        )
                    said[(lang, norm)] = option.key

    for rid, run in tree_file.series.items():
        check_languages(at("series", rid, "title"), run.title)
        if rid not in parent:
            problems.append(f"{at('series', rid)}: series {rid!r} is not an option of any menu")
        for i, topic in enumerate(run.topics):
            where = at("series", rid, "topics", i)
            check_languages(where, topic.say, required=False)
            check_languages(f"{where}.described_as", topic.described_as, required=False)
            if topic.id not in sections:
                problems.append(f"{where}: {topic.id!r} is not a section")
            elif topic.id in parent:
                problems.append(
                    f"{where}: {topic.id!r} is already reached from {parent[topic.id]!r};"
                    " a section is in one series or one menu"
                )
            else:
                parent[topic.id] = rid

    tree = Tree(
        root=tree_file.root,
        menus=dict(tree_file.menus),
        sections=sections,
        parent=parent,
        series=dict(tree_file.series),
    )
    if not problems:
        problems.extend(_reachability(tree, tree_path, node, langs[0]))
    if problems:
        raise ContentError(problems)
    return tree


def _reachability(tree: Tree, tree_path: Path, node: yaml.Node | None, lang: str) -> list[str]:
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
            else f"{tree_path.parent / 'sections' / lang / (nid + '.md')}:1"
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
    for path in sorted((root / "prompts").glob("*.yaml")):
        try:
            prompts[path.stem] = load_prompts(path)
        except ContentError as exc:
            problems.extend(exc.problems)
    if default_language not in prompts and not problems:
        problems.append(f"{root / 'prompts' / (default_language + '.yaml')}:1: missing prompts file")
    langs = [default_language, *sorted(set(prompts) - {default_language})]
    tree: Tree | None = None
    try:
        counting = {lang: counting_words(p) for lang, p in prompts.items()}
        tree = load_tree(root / "knowledge", langs, counting)
    except ContentError as exc:
        problems.extend(exc.problems)
    directory = None
    directory_path = root / "knowledge" / "specialists.yaml"
    if directory_path.exists():
        try:
            data, node = _parse_yaml(directory_path, _read(directory_path))
            directory = _validate(DirectoryFile, data, directory_path, node)
            if tree is not None:
                problems.extend(check_directory(directory, tree, langs, directory_path, node))
        except ContentError as exc:
            problems.extend(exc.problems)
    if problems or tree is None:
        raise ContentError(problems)
    return Content(tree=tree, prompts=prompts, default_language=default_language, directory=directory)


def check_directory(
    file: DirectoryFile, tree: Tree, langs: Sequence[str], where: Path, node: yaml.Node | None
) -> list[str]:
    """Cross-references: topics name real nodes and specialties, texts are in every language."""
    problems = []

    def at(*loc: int | str) -> str:
        return f"{where}:{_line_of(node, loc)}"

    if file.default not in file.specialties:
        problems.append(f"{at('default')}: {file.default!r} is not a specialty")
    for nid, specialty in file.topics.items():
        if not tree.has(nid):
            problems.append(f"{at('topics', nid)}: {nid!r} is not a menu, series or section")
        if specialty not in file.specialties:
            problems.append(f"{at('topics', nid)}: {specialty!r} is not a specialty")
    for sid, entry in file.specialties.items():
        for field, text in (("name", entry.name), ("hours_said", entry.hours_said)):
            if text is not None and (missing := [lang for lang in langs if lang not in text]):
                problems.append(f"{at('specialties', sid, field)}: missing language(s) {missing}")
        if unknown := sorted(set(entry.languages) - set(langs)):
            problems.append(f"{at('specialties', sid, 'languages')}: unknown language(s) {unknown}")
    return problems
