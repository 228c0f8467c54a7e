"""`flask content lint`: check the content the way a clinical editor would."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ivr import services
from ivr.content.lint import lint

content = AppGroup("content", help="Check the line's content files.")


@content.command("lint")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), help="Content to check.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Check review dates as of this day.")
def lint_command(root: Path | None, today: object) -> None:
    """Fail on content errors, overdue reviews, long sentences or key-first wording; warn about topics
    not clinically signed off, or signed off for an older text."""
    root = root or Path(current_app.config["CONTENT_DIR"])
    day = today.date() if today is not None else date.today()  # type: ignore[attr-defined]
    # The sign-offs of this app's database (the content's hashes decide which still count).
    signoffs = services.store().latest_signoffs()
    findings = lint(root, day, current_app.config["DEFAULT_LANGUAGE"], signoffs=signoffs, check_signoffs=True)
    for finding in findings:
        click.echo(str(finding))
    errors = sum(f.error for f in findings)
    click.echo(f"{errors} error(s), {len(findings) - errors} warning(s) in {root}")
    if errors:
        raise SystemExit(1)
