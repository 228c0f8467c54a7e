"""`flask audio render`: pre-render every fixed sentence of the line to the audio cache."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ivr import services
from ivr.audio import cache
from ivr.audio.cache import AudioSettings
from ivr.engine import RATES

audio = AppGroup("audio", help="Pre-rendered audio for <Play> (pyttsx3 on espeak-ng).")


@audio.command("render")
@click.option(
    "--prune", is_flag=True, help="Also delete cached files no sentence (at any rate) uses any more."
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel renders (default: CPUs)."
)
@click.option(
    "--rate",
    "rates",
    type=click.Choice(RATES),
    multiple=True,
    help="Caller speaking rate(s) to render (default: all, so a caller who changes speed still hears audio).",
)
def render_command(prune: bool, jobs: int | None, rates: tuple[str, ...]) -> None:
    """Render every sentence that has no audio yet; re-running renders only what changed."""
    settings = AudioSettings.from_config(current_app.config)
    rates = tuple(dict.fromkeys(rates)) or RATES
    line = services.line()
    todo = cache.plan(line, settings, rates)
    speeds = ", ".join(f"{r} {cache.rate_wpm(settings, r)} wpm" for r in rates)
    click.echo(
        f"{len(todo.items) // len(rates)} sentences x {len(rates)} rates: {len(todo.missing)} files to render"
        f" (voice {settings.voice or 'espeak-ng default'}; {speeds}) in {settings.audio_dir}"
    )
    try:
        with click.progressbar(length=len(todo.missing), label="Rendering", show_pos=True) as bar:
            report = cache.render(todo, settings, jobs=jobs, progress=bar.update)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if prune:
        # Against every rate, so rendering one rate never deletes the others' audio.
        report.pruned = cache.prune(cache.plan(line, settings), settings)
    for item, problem in report.failed:
        click.echo(f"FAILED {item.sentence.source}: {problem}", err=True)
    click.echo(
        f"rendered {len(report.rendered)}, already cached {report.cached}, failed {len(report.failed)}"
        + (f", pruned {report.pruned}" if prune else "")
        + f"; {report.seconds:.1f} s of audio; took {report.elapsed:.1f} s"
    )
    if report.failed:
        raise SystemExit(1)
