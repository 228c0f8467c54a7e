"""`flask data export journeys|figures [--from DAY] [--to DAY] [--out FILE]`: the staff pages' CSV
exports from the command line, recorded in the audit log (as "cli:" and the system user) first.
The command joins `flask data` (ivr/phone/data_cli.py: erase, purge) in ivr/factory.py."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ivr import services
from ivr.store.audit import EXPORT, command_line_actor
from ivr.web import staff
from ivr.web.exports import EXPORTS, csv_lines, export
from ivr.web.figures_page import bounds, parse_period


@click.command("export")
@with_appcontext
@click.argument("what", type=click.Choice(EXPORTS))
@click.option(
    "--from", "first", default="", help="First day (YYYY-MM-DD, UTC); default: the first call kept."
)
@click.option(
    "--to", "last", default="", help="Last day, included (YYYY-MM-DD, UTC); default: the last call kept."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="The CSV file to write; default: standard output.",
)
def export_command(what: str, first: str, last: str, out: str) -> None:
    """Write the pseudonymous journeys or the listening figures of a period as CSV (README.md has
    the columns). Nothing is written unless the export is in the audit log."""
    period, errors = parse_period(first, last)
    if errors:
        raise click.UsageError(" ".join(errors))
    store = services.store()
    journeys = store.journeys(*bounds(period))
    if journeys is None:
        raise click.ClickException(f"could not read the calls from {store.url} (see the log above)")
    made = export(what, services.line().content, journeys, period, staff.node_name)
    if not store.audit(command_line_actor(), EXPORT, f"{what} {period.label()}", detail=f"{made.count} rows"):
        raise click.ClickException("the audit log could not be written, so nothing was exported")
    with click.open_file(out, "w", encoding="utf-8") as sink:
        for line in csv_lines(made.header, made.rows):
            sink.write(line)
    if out != "-":
        click.echo(f"{made.count} rows written to {out}", err=True)
