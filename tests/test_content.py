"""Content files are validated at start-up; broken content refuses to start, naming file and line."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from ivr import services
from ivr.content import ContentError, load_content
from ivr.simulator import FlaskTransport, Phone
from tests.support.app import AUTH_TOKEN, BASE_URL, answer, make_app
from tests.support.content import edit
from tests.support.signoffs import sign
from tests.support.twiml import query

pytestmark = pytest.mark.integration


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def option_line(path: Path, needle: str) -> int:
    """The line of the "- key:" that starts the option containing needle."""
    lines = path.read_text().splitlines()
    at = line_of(path, needle) - 1
    return next(i + 1 for i in range(at, -1, -1) if lines[i].lstrip().startswith("- key:"))


def test_the_real_content_loads() -> None:
    content = services.line(make_app()).content
    tree = content.tree
    assert tree.root == "main"
    assert len(tree.sections) >= 12
    assert all(1 <= len(menu.options) <= 4 for menu in tree.menus.values())
    assert tree.is_series("categories") and tree.first_section("categories") == "categories_overview"
    assert set(tree.nodes()) == {*tree.menus, *tree.sections}  # a call is never "at" a series


Breaker = Callable[[Path], tuple[str, str]]  # edits a content copy; returns (file, expected message)

SECTION_FRONT_MATTER = (
    "---\ntitle: {title}\nsource: x\neditor: y\nupdated_on: 2026-01-01\nreview_by: 2027-01-01\n---\n"
)


def write_section(root: Path, sid: str, en: str, hi: str) -> None:
    """A new one-part section, in English and Hindi."""
    for lang, text in (("en", en), ("hi", hi)):
        (root / f"knowledge/sections/{lang}/{sid}.md").write_text(
            SECTION_FRONT_MATTER.format(title=text) + text + "\n"
        )


def unknown_goto(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", "goto: causes", "goto: causez")
    return (
        f"tree.yaml:{option_line(root / 'knowledge/tree.yaml', 'goto: causez')}",
        "goto 'causez' is not a menu, a series or a section",
    )


def duplicate_key(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", 'key: "3"', 'key: "2"')
    return f"tree.yaml:{option_line(root / 'knowledge/tree.yaml', 'goto: categories')}", "duplicate key '2'"


def five_options(root: Path) -> tuple[str, str]:
    # Callers hold at most four choices in mind: a fifth option is refused.
    tree = root / "knowledge/tree.yaml"
    edit(
        tree,
        "        goto: about\n",
        "        goto: about\n" + '      - {key: "4", label: {en: extra, hi: अतिरिक्त}, goto: junction}\n',
    )
    return f"tree.yaml:{line_of(tree, 'options:')}", "menus.main.options: List should have at most 4 items"


def empty_text(root: Path) -> tuple[str, str]:
    edit(root / "prompts/en.yaml", "goodbye: Thank you for calling. Goodbye.", 'goodbye: "  "')
    return f"en.yaml:{line_of(root / 'prompts/en.yaml', 'goodbye:')}", "phrases.goodbye"


def empty_section(root: Path) -> tuple[str, str]:
    path = root / "knowledge/sections/en/junction.md"
    front_matter = path.read_text().split("---\n")[1]
    path.write_text("---\n" + front_matter + "---\n\n")
    return "junction.md", "no text"


def unreachable(root: Path) -> tuple[str, str]:
    write_section(root, "orphan", "Alone.", "अकेला।")
    return "orphan.md:1", "'orphan' cannot be reached"


def reserved_key(root: Path) -> tuple[str, str]:
    edit(root / "knowledge/tree.yaml", 'key: "4"', 'key: "9"')
    line = line_of(root / "knowledge/tree.yaml", 'key: "9"')
    return f"tree.yaml:{line}", "menus.main.options.3.key"


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
    # Symptoms behind two more menus: main, symptoms and causes, deeper, deepest: 4 key presses.
    tree = root / "knowledge/tree.yaml"
    edit(tree, "        goto: symptoms\n", "        goto: deeper\n")
    edit(
        tree,
        "  treatment:\n",
        "  deeper:\n    title: {en: Deeper., hi: गहरा।}\n    options:\n"
        '      - {key: "1", label: {en: deepest, hi: सबसे गहरा}, goto: deepest}\n'
        "  deepest:\n    title: {en: Deepest., hi: सबसे गहरा।}\n    options:\n"
        '      - {key: "1", label: {en: symptoms, hi: लक्षणों}, goto: symptoms}\n'
        "  treatment:\n",
    )
    return "symptoms.md:1", "'symptoms' takes 4 key presses; the most is 3"


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
    path = root / "knowledge/sections/en/symptoms.md"
    edit(path, "{phone: hang up and }", "{phone hang up and }")
    return f"symptoms.md:{line_of(path, '{phone hang up')}", "outside {phone: ...} or {emergency}"


def unknown_token(root: Path) -> tuple[str, str]:
    # Only {phone: ...} and {emergency} are known: a misspelt token would be read out as it is.
    path = root / "knowledge/sections/en/symptoms.md"
    edit(path, "call {emergency}", "call {emergncy}")
    return f"symptoms.md:{line_of(path, '{emergncy}')}", "outside {phone: ...} or {emergency}"


def series_unknown_section(root: Path) -> tuple[str, str]:
    tree = root / "knowledge/tree.yaml"
    edit(tree, "      - id: junction\n", "      - id: junctoin\n")
    return f"tree.yaml:{line_of(tree, 'id: junctoin')}", "'junctoin' is not a section"


def section_in_a_series_and_an_option(root: Path) -> tuple[str, str]:
    tree = root / "knowledge/tree.yaml"
    edit(tree, "        goto: about\n", "        goto: junction\n")
    return (
        f"tree.yaml:{line_of(tree, 'id: junction')}",
        "'junction' is already reached from 'main'; a section is in one series or one menu",
    )


def series_without_an_option(root: Path) -> tuple[str, str]:
    tree = root / "knowledge/tree.yaml"
    write_section(root, "extra_one", "One.", "एक।")
    write_section(root, "extra_two", "Two.", "दो।")
    edit(
        tree,
        "series:\n",
        "series:\n  extra:\n    title: {en: Extra., hi: अतिरिक्त।}\n"
        "    topics: [{id: extra_one}, {id: extra_two}]\n",
    )
    return f"tree.yaml:{line_of(tree, '  extra:')}", "series 'extra' is not an option of any menu"


def list_item_without_a_full_stop(root: Path) -> tuple[str, str]:
    # An item is said after its number as a sentence ("Three. Muscle cramps."): it must end one.
    path = root / "knowledge/sections/en/symptoms.md"
    edit(path, "- Muscle cramps.\n", "- Muscle cramps\n")
    return (
        f"symptoms.md:{line_of(path, '- Muscle cramps')}",
        "a list item must end a sentence (. ! ? or ।): 'Muscle cramps'",
    )


def ten_list_items(root: Path) -> tuple[str, str]:
    # Items are numbered in words from one to nine: the eight causes and two more are too many.
    path = root / "knowledge/sections/en/causes.md"
    edit(path, "- Certain drugs and poisons.\n", "- Certain drugs and poisons.\n- Stress.\n- Age.\n")
    return f"causes.md:{line_of(path, '- A metabolic disorder')}", "a list has at most 9 items"


def section_with_the_old_review_fields(root: Path) -> tuple[str, str]:
    path = root / "knowledge/sections/en/junction.md"
    edit(path, "updated_on:", "reviewed_on:")
    return f"junction.md:{line_of(path, 'reviewed_on:')}", "reviewed_on: Extra inputs are not permitted"


def section_without_an_editor(root: Path) -> tuple[str, str]:
    path = root / "knowledge/sections/en/junction.md"
    edit(path, "editor:", "# editor:")
    return "junction.md:2", "editor: Field required"


def review_due_before_the_update(root: Path) -> tuple[str, str]:
    path = root / "knowledge/sections/en/junction.md"
    edit(path, "review_by: 2027-11-30", "review_by: 2026-11-29")
    return "junction.md:2", "review_by must come after updated_on"


def clinical_review_in_front_matter(root: Path) -> tuple[str, str]:
    # Sign-offs are given on the clinical review page and kept in the database (one truth), never in
    # a file a text edit would carry along.
    path = root / "knowledge/sections/en/junction.md"
    edit(path, "review_by:", "clinical_review: {by: Dr. A. Neurologist, date: 2026-12-15}\nreview_by:")
    where = f"junction.md:{line_of(path, 'clinical_review:')}"
    return where, "clinical_review: Extra inputs are not permitted"


BREAKERS: list[Breaker] = [
    unknown_goto,
    duplicate_key,
    five_options,
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
    unknown_token,
    series_unknown_section,
    section_in_a_series_and_an_option,
    series_without_an_option,
    list_item_without_a_full_stop,
    ten_list_items,
    section_with_the_old_review_fields,
    section_without_an_editor,
    review_due_before_the_update,
    clinical_review_in_front_matter,
]


@pytest.mark.unit
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


@pytest.mark.unit
def test_every_problem_is_reported_at_once(content_copy: Path) -> None:
    duplicate_key(content_copy)
    bad_yaml(content_copy)
    missing_front_matter(content_copy)
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    text = "\n".join(caught.value.problems)
    assert "tree.yaml" in text and "en.yaml" in text and "causes.md" in text


def test_a_clinical_sign_off_is_heard_at_the_end_of_the_topic_in_its_language_only(
    content_copy: Path, tmp_path: Path
) -> None:
    # README: once a clinician signed a topic off in a language (the clinical review page), the end
    # of the topic says it was reviewed, and when, instead of when it was updated; in that language.
    app = make_app(CONTENT_DIR=str(content_copy), DATABASE_URL=f"sqlite:///{tmp_path / 'signed.sqlite3'}")
    sign(app, "symptoms", "en", date(2026, 12, 2))
    tree = services.line(app).content.tree
    for lang, key in (("en", "1"), ("hi", "2")):
        p = services.line(app).prompts(lang)
        phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
        answer(phone, key)
        for press in tree.keys_to("symptoms"):
            turn = phone.press(press)
        for _ in range(tree.part_count("symptoms")):
            turn = phone.wait()
        assert turn.gather is not None and query(turn.gather.get("action", ""))["n"] == "symptoms"
        assert p.phrases.end_of_topic in turn.says
        reviewed = p.phrases.reviewed.format(month=p.months[11], year=2026)
        updated = [said for said in turn.says if said.startswith(p.phrases.updated.split("{")[0])]
        if lang == "en":
            assert reviewed in turn.says and not updated
        else:
            assert reviewed not in turn.says and len(updated) == 1, "signed in English only"
