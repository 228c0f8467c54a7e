"""`flask content lint`: the real content passes; stale, long-winded or key-first content fails."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.content.lint import lint
from ivr.content.signoff import topics
from tests.support.content import edit

pytestmark = pytest.mark.integration


def run_lint(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["content", "lint", *args])


def test_the_real_content_passes(app: Flask) -> None:
    result = run_lint(app, "--today", date.today().isoformat())
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_content_past_its_review_date_fails(app: Flask) -> None:
    content = load_content(REPO_ROOT)
    latest = max(s.meta.review_by for by_lang in content.tree.sections.values() for s in by_lang.values())
    day_after = date.fromordinal(latest.toordinal() + 1).isoformat()
    result = run_lint(app, "--today", day_after)
    assert result.exit_code == 1
    assert "past its review date" in result.output
    assert "knowledge/sections/en/symptoms.md" in result.output


def _junction_dates(root: Path) -> tuple[str, str]:
    """The English junction section's `updated_on` and `review_by` as written in its front matter."""
    meta = load_content(root).tree.section("junction", "en").meta
    return meta.updated_on.isoformat(), meta.review_by.isoformat()


def test_review_due_soon_is_a_warning_only(app: Flask, content_copy: Path) -> None:
    path = content_copy / "knowledge/sections/en/junction.md"
    _, review_by = _junction_dates(content_copy)
    edit(path, f"review_by: {review_by}", "review_by: 2027-01-10")
    result = run_lint(app, "--dir", str(content_copy), "--today", "2027-01-01")
    assert result.exit_code == 0, result.output
    assert (
        "warning:" in result.output and "junction.md" in result.output and "due for review" in result.output
    )


def test_the_app_warns_at_start_up_about_overdue_reviews(
    content_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.app import make_app

    updated_on, review_by = _junction_dates(content_copy)
    edit(
        content_copy / "knowledge/sections/en/junction.md",
        f"updated_on: {updated_on}",
        "updated_on: 2020-01-01",
    )
    edit(
        content_copy / "knowledge/sections/en/junction.md", f"review_by: {review_by}", "review_by: 2021-01-01"
    )
    make_app(CONTENT_DIR=str(content_copy))
    assert any(
        "junction.md" in r.getMessage() and "past its review date" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "knowledge/sections/en/junction.md",
            "This is where",
            "This is the place in the body where the long nerve fibre that carries the signal from the brain "
            "finally reaches the muscle and passes on its message so that the muscle can tighten. "
            "This is where",
            "a sentence of 3",
        ),
        (
            "prompts/en.yaml",
            "option: For {label}, press {key}.",
            "option: Press {key} for {label}.",
            "choice first",
        ),
        (
            "prompts/en.yaml",
            'help_line: "{action}, press {key}."',
            'help_line: "Press {key} {action}."',
            "first",
        ),
        (
            "prompts/en.yaml",
            "  first_part: This is the first part.",
            "  first_part: Press 9. This is the first part.",
            "starts with the key",
        ),
        (
            "knowledge/sections/en/symptoms.md",
            "- Muscle pain.",
            "- 9 is for muscle pain.",  # said "Five. 9 is for muscle pain."
            "part 3: starts with the key; say the choice first: 9 is for muscle pain.",
        ),
        # A series' title is checked like a menu's.
        (
            "knowledge/tree.yaml",
            "      en: The six types.",
            "      en: 6 types.",
            "series.categories (en): starts with the key",
        ),
        (
            "knowledge/tree.yaml",
            "goto: causes",
            "goto: nowhere",
            "goto 'nowhere' is not a menu, a series or a section",
        ),
    ],
)
def test_broken_fixtures_fail_the_lint(
    app: Flask, content_copy: Path, file: str, old: str, new: str, message: str
) -> None:
    edit(content_copy / file, old, new)
    result = run_lint(app, "--dir", str(content_copy))
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert Path(file).name in result.output


@pytest.mark.unit
def test_the_lint_on_the_content_alone_checks_no_sign_offs() -> None:
    offline = lint(REPO_ROOT, date(2026, 11, 25))
    assert not any("signed off" in f.message or "sign-offs" in f.message for f in offline)
    # With the sign-offs of a database that has none: every topic, in every language, unsigned.
    checked = lint(REPO_ROOT, date(2026, 11, 25), signoffs={}, check_signoffs=True)
    unsigned = [f for f in checked if f.message == "not clinically signed off"]
    content = load_content(REPO_ROOT)
    assert len(unsigned) == len(topics(content.tree)) * len(content.languages)
    assert all(not f.error for f in unsigned), "a warning: the line says 'last updated' meanwhile"
    assert sum(f.error for f in checked) == sum(f.error for f in offline)
