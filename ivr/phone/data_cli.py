"""`flask data erase NUMBER` and `flask data purge`: callers' personal data, erased on request and
purged when past its retention period (README, Personal data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from ivr.phone.erasure import (
    AuditUnavailableError,
    InvalidNumberError,
    StoreUnavailableError,
    erase_number_for_staff,
    purge,
)
from ivr.store.audit import command_line_actor

data = AppGroup(
    "data",
    help="Callers' personal data: erase a number, purge what is past its retention, export journeys.",
)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items())


@data.command("erase")
@click.argument("number")
def erase_command(number: str) -> None:
    """Erase everything kept for NUMBER (any spelling of an international number: +91 98123 45678,
    0091…): remembered choices, call-backs, missed calls, texts, recorded questions; its calls stay
    as anonymous figures. Recorded in the audit log first (as "cli:" and the system user). Exit 2
    for an invalid number, 1 when the audit log or the database cannot be written."""
    try:
        ref, erased = erase_number_for_staff(number, command_line_actor())
    except InvalidNumberError as exc:
        raise click.BadParameter(f"{exc} (write it with its country code, e.g. +91 98123 45678)") from None
    except (AuditUnavailableError, StoreUnavailableError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"erased for {ref}: {_counts(asdict(erased))}")


def _when(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            "an ISO 8601 time, e.g. 2026-12-01T03:00:00+00:00", param_hint="--now"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@data.command("purge")
@click.option(
    "--now", "now", default=None, help="Purge as of this ISO 8601 time (UTC when no zone is given)."
)
def purge_command(now: str | None) -> None:
    """Delete what is past its retention period (IVR_RETAIN_*), and retry recordings Twilio has
    not deleted yet; prints what went, per kind. Safe to run on several servers at once. Exit 1
    when the database could not be reached."""
    counts = purge(_when(now))
    failed = counts.pop("failed", 0)
    click.echo(f"purged: {_counts(dict(sorted(counts.items())))}")
    if failed:
        raise click.ClickException("the database could not be reached: nothing past its period was deleted")
