"""The listening figures page (/staff/figures/) and its two CSV exports, over a period of days.

The figures are defined in ivr/web/figures.py, the exports' columns in ivr/web/exports.py (and both
in README.md). Each export is recorded in the audit log before a byte of it is sent, and refused
(503) when it cannot be recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from ivr import services
from ivr.store import Journey
from ivr.store.audit import EXPORT
from ivr.web import staff
from ivr.web.exports import Cell, Period, csv_lines, export
from ivr.web.figures import TopicRow, listening_figures
from ivr.web.roles import FIGURES, requires

bp = staff.blueprint("figures", __name__, "/staff/figures")

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
NOT_READ = "The database could not be read: the figures cannot be shown or exported now. Try again shortly."
NOT_RECORDED = "The audit log could not be written, so the export was not made. Try again shortly."

# The listening chart's geometry, in SVG user units (the SVG scales to the page's width).
CHART_WIDTH = 640
BAR_MAX = 400
ROW_HEIGHT = 74
LABEL_Y = 17
FIRST_BAR_Y = 26
SECOND_BAR_Y = 50
BAR_HEIGHT = 14


def parse_period(first: str, last: str) -> tuple[Period, list[str]]:
    """The period asked for by `from` and `to` (YYYY-MM-DD, UTC days, both included; empty: no
    bound), and what is wrong with them, in words staff can act on (no period then)."""
    errors = []
    days: list[date | None] = []
    for name, raw in (("From", first.strip()), ("To", last.strip())):
        day = None
        if raw:
            try:
                day = date.fromisoformat(raw) if DAY.fullmatch(raw) else None
            except ValueError:
                day = None
            if day is None:
                errors.append(
                    f"{name}: {raw[:20]!r} is not a date. Write it as year-month-day, like 2026-11-25."
                )
        days.append(day)
    begin, end = days
    if begin and end and end < begin:
        errors.append("To is before From: the period would have no days.")
    return Period(begin, end), errors


def bounds(period: Period) -> tuple[datetime | None, datetime | None]:
    """The period as [since, until) in UTC for the store: from midnight of its first day to
    midnight after its last."""
    since = datetime.combine(period.first, time(), UTC) if period.first else None
    until = None
    if period.last and period.last < date.max:
        until = datetime.combine(period.last + timedelta(days=1), time(), UTC)
    return since, until


@dataclass(frozen=True, slots=True)
class ChartRow:
    """One topic in the listening chart: its title and both bars' widths and labels."""

    title: str
    y: int
    half_width: int
    half_label: str
    most_width: int
    most_label: str


def chart_rows(rows: Sequence[TopicRow], title: dict[str, str]) -> list[ChartRow]:
    """Each topic's share of calls that heard at least half, and three quarters, of it, as bars."""

    def width(pct: int) -> int:
        return max(2, round(BAR_MAX * pct / 100))

    return [
        ChartRow(
            title=title[row.topic],
            y=i * ROW_HEIGHT,
            half_width=width(row.half_percent),
            half_label=f"at least half: {row.half} of {row.calls} ({row.half_percent}%)",
            most_width=width(row.three_quarters_percent),
            most_label=(
                f"at least three quarters: {row.three_quarters} of {row.calls} "
                f"({row.three_quarters_percent}%)"
            ),
        )
        for i, row in enumerate(rows)
    ]


def _asked() -> tuple[dict[str, str], Period, list[Journey] | str]:
    """The period of this request's ?from=&to=, and its calls; or instead of the calls, what is
    wrong (one message a line), or NOT_READ when the database could not be read."""
    args = {"first": request.args.get("from", ""), "last": request.args.get("to", "")}
    period, errors = parse_period(args["first"], args["last"])
    if errors:
        return args, period, "\n".join(errors)
    journeys = services.store().journeys(*bounds(period))
    return args, period, NOT_READ if journeys is None else journeys


def _error_page(errors: list[str], period_args: dict[str, str], status: int) -> ResponseReturnValue:
    return render_template(
        "staff/figures.html", errors=errors, figures=None, page="figures", **period_args
    ), status


@bp.get("/")
@requires(FIGURES)
def page() -> ResponseReturnValue:
    """Listening per topic, where calls ended, transfers; over the days asked for (?from=&to=)."""
    args, period, journeys = _asked()
    if isinstance(journeys, str):
        return _error_page(journeys.split("\n"), args, 503 if journeys == NOT_READ else 400)
    content = services.line().content
    figures = listening_figures(content.tree, journeys)
    titles = {row.topic: staff.node_name(row.topic) for row in figures.topics}
    return render_template(
        "staff/figures.html",
        errors=[],
        figures=figures,
        titles=titles,
        chart=chart_rows(figures.topics, titles),
        chart_size=(CHART_WIDTH, max(len(figures.topics), 1) * ROW_HEIGHT),
        geometry={"label": LABEL_Y, "first": FIRST_BAR_Y, "second": SECOND_BAR_Y, "height": BAR_HEIGHT},
        part_label=lambda node, part: _part_label(node, part),
        period=period,
        page="figures",
        **args,
    )


def _part_label(node: str, part: int) -> str:
    tree = services.line().content.tree
    return "the topic's end" if part >= tree.part_count(node) else f"part {part + 1}"


def csv_response(
    name: str, period: Period, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> Response:
    """A CSV download, streamed: named e.g. journeys-2026-11-01-to-2026-11-30.csv."""
    filename = f"{name}-{period.label()}.csv"
    return Response(
        stream_with_context(csv_lines(header, rows)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _export(name: str) -> ResponseReturnValue:
    args, period, journeys = _asked()
    if isinstance(journeys, str):
        return _error_page(journeys.split("\n"), args, 503 if journeys == NOT_READ else 400)
    made = export(name, services.line().content, journeys, period, staff.node_name)
    # Recorded before anything is sent: an export the audit log does not know of is never made.
    if not staff.record(EXPORT, f"{name} {period.label()}", f"{made.count} rows"):
        return render_template("staff/unavailable.html", page="figures", what=NOT_RECORDED), 503
    return csv_response(name, period, made.header, made.rows)


@bp.get("/journeys.csv")
@requires(FIGURES)
def journeys_csv() -> ResponseReturnValue:
    """The pseudonymous journeys of the calls of the period (?from=&to=), one row per event."""
    return _export("journeys")


@bp.get("/figures.csv")
@requires(FIGURES)
def figures_csv() -> ResponseReturnValue:
    """The figures of the page for the period (?from=&to=), one figure a row."""
    return _export("figures")
