"""Content files are validated at start-up; broken content refuses to start, naming file and line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.content import ContentError, load_content
from tests.conftest import make_app


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture text not found in {path}: {old!r}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def option_line(path: Path, needle: str) -> int:
    """The line of the "- key:" that starts the option containing needle."""
    lines = path.read_text().splitlines()
    at = line_of(path, needle) - 1
    return next(i + 1 for i in range(at, -1, -1) if lines[i].lstrip().startswith("- key:"))


def test_the_real_content_loads() -> None:
    content = make_app().extensions["ivr"].line.content
    assert content.tree.root == "main"
    assert len(content.tree.sections) >= 12


Breaker = Callable[[Path], tuple[str, str]]  # edits a content copy; returns (file, expected message)


def unknown_goto(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", "goto: causes", "goto: causez")
    return f"tree.yaml:{option_line(root / 'knowledge/tree.yaml', 'goto: causez')}", "'causez' is not a menu"


def duplicate_key(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", 'key: "3"', 'key: "2"')
    return f"tree.yaml:{option_line(root / 'knowledge/tree.yaml', 'goto: categories')}", "duplicate key '2'"


def six_options(root: Path) -> tuple[str, str]:
    tree = root / "knowledge/tree.yaml"
    edit(
        tree,
        "        goto: treatment\n",
        "        goto: treatment\n" + '      - {key: "1", label: {en: extra}, goto: junction}\n' * 2,
    )
    return "tree.yaml", "at most 5 items"


def empty_text(root: Path) -> tuple[str, str]:
    edit(root / "prompts/en.yaml", "goodbye: Thank you for calling. Goodbye.", 'goodbye: "  "')
    return f"en.yaml:{line_of(root / 'prompts/en.yaml', 'goodbye:')}", "phrases.goodbye"


def empty_section(root: Path) -> tuple[str, str]:
    path = root / "knowledge/sections/en/junction.md"
    front_matter = path.read_text().split("---\n")[1]
    path.write_text("---\n" + front_matter + "---\n\n")
    return "junction.md", "no text"


def unreachable(root: Path) -> tuple[str, str]:
    (root / "knowledge/sections/hi/orphan.md").write_text(
        "---\ntitle: अकेला।\nsource: x\nreviewer: y\n"
        "reviewed_on: 2026-01-01\nreview_by: 2027-01-01\n---\nअकेला।\n"
    )
    (root / "knowledge/sections/en/orphan.md").write_text(
        "---\ntitle: Orphan.\nsource: x\nreviewer: y\n"
        "reviewed_on: 2026-01-01\nreview_by: 2027-01-01\n---\nAlone.\n"
    )
    return "orphan.md", "'orphan' cannot be reached"


def reserved_key(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", 'key: "4"', 'key: "9"')
    return "tree.yaml", "key"


def unknown_field(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", "      en: Treatment.", "      en: Treatment.\n    colour: blue")
    line = line_of(root / "knowledge/tree.yaml", "colour: blue")
    return f"tree.yaml:{line}", "Extra inputs are not permitted"


def bad_yaml(root: Path) -> tuple[str, str]:
    edit(root / "prompts/en.yaml", "  no_input: Sorry", "  no_input: [Sorry")
    return "en.yaml", "not valid YAML"


def missing_placeholder(root: Path) -> tuple[str, str]:
    edit(root / "prompts/en.yaml", "option: For {label}, press {key}.", "option: For {label}, press it.")
    return "en.yaml", "missing placeholder(s) ['key']"


def unknown_placeholder(root: Path) -> tuple[str, str]:
    edit(root / "prompts/en.yaml", "goodbye: Thank you", "goodbye: Thank you {name}")
    return "en.yaml", "unknown placeholder(s) ['name']"


def too_deep(root: Path) -> tuple[str, str]:
    tree = root / "knowledge/tree.yaml"
    edit(tree, "        goto: muscular_dystrophies", "        goto: deeper")
    edit(
        tree,
        "  nerve_types:\n",
        "  deeper:\n    title: {en: Deeper., hi: गहरा।}\n    options:\n"
        '      - key: "1"\n        label: {en: dystrophies, hi: डिस्ट्रॉफी}\n'
        "        goto: muscular_dystrophies\n  nerve_types:\n",
    )
    return "muscular_dystrophies.md", "takes 4 key presses"


def two_parents(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", "        goto: drug_therapy", "        goto: symptoms")
    return "tree.yaml", "'symptoms' is already reached from 'symptoms_causes'"


def missing_front_matter(root: Path) -> tuple[str, str]:
    path = root / "knowledge/sections/en/causes.md"
    path.write_text("Just text.\n")
    return "causes.md:1", "front matter"


def ambiguous_phrase(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", "en: [causes, cause,", "en: [symptoms, causes, cause,")
    return "tree.yaml", "phrase 'symptoms' also picks option '1'"


def missing_prompt_field(root: Path) -> tuple[str, str]:
    edit(root / "prompts/en.yaml", "  state_lost: Sorry, something went wrong on our side.", "  # gone")
    return "en.yaml", "phrases.state_lost: Field required"


def unclosed_phone_only(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/sections/en/symptoms.md", "{phone: At any time", "{phone At any time")
    return "symptoms.md:16", "outside {phone: ...}"


BREAKERS: list[Breaker] = [
    unknown_goto,
    duplicate_key,
    six_options,
    empty_text,
    empty_section,
    unreachable,
    reserved_key,
    unknown_field,
    bad_yaml,
    missing_placeholder,
    unknown_placeholder,
    too_deep,
    two_parents,
    missing_front_matter,
    ambiguous_phrase,
    missing_prompt_field,
    unclosed_phone_only,
]


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.__name__)
def test_broken_content_is_refused_with_file_and_line(content_copy: Path, breaker: Breaker) -> None:
    where, message = breaker(content_copy)
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    problems = caught.value.problems
    assert any(where in p and message in p for p in problems), problems
    assert all(re.search(r"\.(yaml|md):\d+: ", p) for p in problems), problems


def test_the_app_refuses_to_start_on_broken_content(content_copy: Path) -> None:
    unknown_goto(content_copy)
    with pytest.raises(ContentError, match="causez"):
        make_app(CONTENT_DIR=str(content_copy))


def test_every_problem_is_reported_at_once(content_copy: Path) -> None:
    duplicate_key(content_copy)
    bad_yaml(content_copy)
    missing_front_matter(content_copy)
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    text = "\n".join(caught.value.problems)
    assert "tree.yaml" in text and "en.yaml" in text and "causes.md" in text
