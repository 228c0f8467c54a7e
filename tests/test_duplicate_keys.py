"""A key written twice in any content YAML is refused at start-up and by the lint, with both lines.

YAML keeps only the last of two equal keys: a second `goodbye:` or `en:` would replace the first
without a word, in what callers hear, in the tree and in the directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from flask import Flask

from ivr.content import ContentError, load_content
from ivr.simulator import utterances
from tests.support.app import make_app
from tests.support.content import edit, repeat_key

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Repeat:
    """A key written a second time: the line `again` goes after the line holding `after`."""

    file: str
    after: str
    again: str
    key: str

    def write(self, root: Path) -> str:
        """Write it into a content copy; the message the line must refuse it with."""
        first, second = repeat_key(root / self.file, self.after, self.again)
        return f"{root / self.file}:{second}: duplicate key {self.key!r}, also at line {first}"


GOODBYE = Repeat("prompts/en.yaml", "  goodbye: ", "  goodbye: Bye now.", "goodbye")
LANGUAGE = Repeat("knowledge/tree.yaml", "      en: Main menu.", "      en: Menu.", "en")
# The tempting way to write a split shift: the second mon-fri would have replaced the first.
HOURS = Repeat(
    "knowledge/specialists.yaml", '      mon-fri: "09:00-17:00"', '      mon-fri: "18:00-20:00"', "mon-fri"
)
REPEATS = {
    "goodbye_in_prompts": GOODBYE,
    "hindi_phrase_in_prompts": Repeat("prompts/hi.yaml", "  goodbye: ", "  goodbye: फिर मिलेंगे।", "goodbye"),
    "language_in_the_tree": LANGUAGE,
    "option_field_in_the_tree": Repeat(
        "knowledge/tree.yaml", "        goto: treatment", "        goto: about", "goto"
    ),
    "hours_in_the_directory": HOURS,
    "specialty_in_the_directory": Repeat(
        "knowledge/specialists.yaml",
        "  categories: neuromuscular_clinic",
        "  categories: helpdesk",
        "categories",
    ),
    "title_in_front_matter": Repeat(
        "knowledge/sections/en/junction.md", "title: ", "title: Junction.", "title"
    ),
}


@pytest.mark.unit
def test_every_key_written_twice_is_reported_at_once(content_copy: Path) -> None:
    expected = [repeat.write(content_copy) for repeat in (GOODBYE, LANGUAGE, HOURS)]
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    for line in expected:
        assert any(p.startswith(line) for p in caught.value.problems), (line, caught.value.problems)


@dataclass(frozen=True)
class Merge:
    """An edit that makes a key come from two places through `<<`: `first` and `second` are held by
    the (first) lines, in the edited file, where the key's two values are written."""

    file: str
    old: str
    new: str
    key: str
    first: str
    second: str

    def write(self, root: Path) -> str:
        """Make the edit in a content copy (its hours anchored); the message to refuse it with."""
        path = root / "knowledge/specialists.yaml"
        edit(
            path, '    hours:\n      mon-fri: "09:00-17:00"', '    hours: &nine\n      mon-fri: "09:00-17:00"'
        )
        edit(
            path, '    hours:\n      mon-fri: "10:00-16:00"', '    hours: &ten\n      mon-fri: "10:00-16:00"'
        )
        path = root / self.file
        edit(path, self.old, self.new)
        lines = path.read_text().splitlines()
        first, second = (
            next(i for i, line in enumerate(lines, 1) if m in line) for m in (self.first, self.second)
        )
        return f"{path}:{second}: duplicate key {self.key!r}, also at line {first}"


EN_RATES = "rate_names: {normal: normal, slow: slow, fast: fast}\n"
TWO_MERGES = "rate_names: {<<: {normal: normal, slow: slow}, <<: {slow: SLOWER, fast: fast}}\n"
SURGICAL_HOURS = '    hours:\n      mon-fri: "09:00-13:00"\n'
MERGES = {
    # One set of hours would vanish: the first source's mon-fri wins, the second's is dropped.
    "hours_from_two_merge_sources": Merge(
        "knowledge/specialists.yaml",
        SURGICAL_HOURS,
        '    hours:\n      <<: [{mon-fri: "09:00-17:00"}, {mon-fri: "10:00-11:00"}]\n',
        "mon-fri",
        '"10:00-11:00"',
        '"10:00-11:00"',
    ),
    "merge_key_twice_in_flow_style": Merge("prompts/en.yaml", EN_RATES, TWO_MERGES, "<<", "SLOWER", "SLOWER"),
    "a_key_from_two_merge_keys_in_flow_style": Merge(
        "prompts/en.yaml", EN_RATES, TWO_MERGES, "slow", "SLOWER", "SLOWER"
    ),
    # Even with no key in common: `<<` is a key like any other, written once.
    "merge_key_twice_in_block_style": Merge(
        "prompts/hi.yaml",
        "rate_names: {normal: सामान्य, slow: धीमी, fast: तेज़}\n",
        "rate_names:\n  <<: {normal: सामान्य, slow: धीमी}\n  <<: {fast: तेज़}\n",
        "<<",
        "<<: {normal",
        "<<: {fast",
    ),
    "own_key_over_a_merged_one": Merge(
        "prompts/en.yaml",
        EN_RATES,
        "rate_names:\n  <<: {normal: normal, slow: slow}\n  slow: SLOWER\n  fast: fast\n",
        "slow",
        "<<: {normal",
        "slow: SLOWER",
    ),
    "own_key_over_an_aliased_one": Merge(
        "knowledge/specialists.yaml",
        SURGICAL_HOURS,
        '    hours:\n      <<: *ten\n      mon-fri: "09:00-12:00"\n',
        "mon-fri",
        '"10:00-16:00"',
        '"09:00-12:00"',
    ),
    # Through anchors: the key's lines are where the anchored mappings write it.
    "hours_from_two_aliases": Merge(
        "knowledge/specialists.yaml",
        SURGICAL_HOURS,
        "    hours:\n      <<: [*nine, *ten]\n",
        "mon-fri",
        '"09:00-17:00"',
        '"10:00-16:00"',
    ),
}


EVERY: dict[str, Repeat | Merge] = {**REPEATS, **MERGES}


@pytest.mark.unit
@pytest.mark.parametrize("repeat", EVERY.values(), ids=EVERY.keys())
def test_the_loader_refuses_a_key_written_twice(content_copy: Path, repeat: Repeat | Merge) -> None:
    expected = repeat.write(content_copy)
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("repeat", EVERY.values(), ids=EVERY.keys())
def test_the_app_refuses_to_start_and_the_lint_fails_with_the_same_message(
    content_copy: Path, repeat: Repeat
) -> None:
    expected = repeat.write(content_copy)
    with pytest.raises(ContentError) as caught:
        make_app(CONTENT_DIR=str(content_copy))
    assert expected in str(caught.value)
    result = _lint(make_app(), content_copy)
    assert result.exit_code == 1, result.output
    assert f"error: {expected}" in result.output, result.output


@pytest.mark.unit
def test_anchors_and_merge_keys_that_give_each_key_once_keep_their_meaning(content_copy: Path) -> None:
    # An alias is one mapping, merged where it is named: nothing is given twice.
    Merge("knowledge/specialists.yaml", SURGICAL_HOURS, "    hours:\n      <<: *ten\n", "", "", "").write(
        content_copy
    )
    edit(
        content_copy / "prompts/en.yaml",
        EN_RATES,
        "rate_names: {<<: [{normal: normal}, {slow: slow}], fast: fast}\n",
    )
    content = load_content(content_copy)
    assert content.directory is not None
    assert content.directory.specialties["surgical_referrals"].hours == {"mon-fri": ["10:00-16:00"]}
    assert content.directory.specialties["neuromuscular_clinic"].hours == {"mon-fri": ["10:00-16:00"]}


@pytest.mark.unit
def test_a_key_written_twice_beside_a_merge_is_refused(content_copy: Path) -> None:
    merge = '    hours:\n      <<: *ten\n      sat: "09:00-10:00"\n'
    Merge("knowledge/specialists.yaml", SURGICAL_HOURS, merge, "", "", "").write(content_copy)
    path = content_copy / "knowledge/specialists.yaml"
    _, inserted = repeat_key(path, '      sat: "09:00-10:00"', '      sat: "08:00-09:00"')
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    assert f"specialists.yaml:{inserted}: duplicate key 'sat', also at line {inserted - 1}" in str(
        caught.value
    )


@pytest.mark.unit
def test_an_utterance_set_with_a_language_written_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(
        "en:\n  - {say: help, to: [person], ctx: main}\n"
        "hi:\n  - {say: मदद, to: [person], ctx: main}\n"
        "en:\n  - {say: hello, to: [same], ctx: main}\n",
        encoding="utf-8",
    )
    with pytest.raises(yaml.YAMLError, match=r"line 5: duplicate key 'en' \(first at line 1\)"):
        utterances.load(path)


def _lint(app: Flask, root: Path) -> Result:
    return app.test_cli_runner().invoke(args=["content", "lint", "--dir", str(root)])
