"""The CSV exports: pseudonymous journeys, and the listening figures (columns in README.md).

Both are written by the staff pages (ivr/web/figures_page.py) and by `flask data export`
(ivr/web/exports_cli.py), row by row as text, with Python's csv module.

The journeys export names callers and calls by pseudonyms made for that export only: an HMAC-SHA256
of the stored pseudonym (or CallSid) under a random key that is made for the export and never kept.
Two exports, the logs and the dashboard therefore share no name for anyone: rows cannot be joined
across them, and no number, CallSid or stored caller pseudonym is ever written.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import itertools
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ivr.content import Content
from ivr.store import Journey
from ivr.web.figures import ListeningFigures, call_language, is_topic, listening_figures

JOURNEY_COLUMNS = (
    "caller",
    "call",
    "call_started",
    "language",
    "event_at",
    "event",
    "node",
    "node_title",
    "part",
    "call_status",
)
FIGURE_COLUMNS = (
    "from",
    "to",
    "table",
    "topic",
    "topic_title",
    "node",
    "node_title",
    "part",
    "figure",
    "value",
)
# A spreadsheet takes a cell starting with one of these as a formula (or strips it): such a cell is
# written with a ' first, which spreadsheets show as text (OWASP's advice on CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PSEUDONYM_HEX = 16  # 64 bits of the HMAC: no two callers of one export share one in practice

Cell = str | int


def safe_cell(value: Cell) -> Cell:
    """A cell as written: text that a spreadsheet would run as a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[str]:
    """The header and each row as one CSV line (\\r\\n ended, quoted as needed), every text cell
    guarded by `safe_cell`; made one at a time, for a streamed response or a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in itertools.chain([header], rows):
        writer.writerow([safe_cell(cell) for cell in line])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


class Pseudonyms:
    """Names for callers and calls, good for one export only (a new random key each time)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def _name(self, prefix: str, kind: bytes, value: str) -> str:
        digest = hmac.new(self._key, kind + b":" + value.encode(), hashlib.sha256).hexdigest()
        return prefix + digest[:PSEUDONYM_HEX]

    def caller(self, caller_hash: str | None) -> str:
        """A caller's name in this export ("P" and 16 hex digits); "" when the number was withheld."""
        return self._name("P", b"caller", caller_hash) if caller_hash else ""

    def call(self, call_sid: str) -> str:
        """A call's name in this export ("C" and 16 hex digits)."""
        return self._name("C", b"call", call_sid)


def timestamp(moment: datetime) -> str:
    """A moment as the exports write it: ISO 8601 in UTC, to the second, e.g. 2026-11-25T05:30:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def part_number(content: Content, node: str, part: int) -> str:
    """A part as staff count them (1 for the first) when `node` is a section and `part` one of its
    parts; "" elsewhere (menus, the line's own steps, a topic's end)."""
    tree = content.tree
    return str(part + 1) if node in tree.sections and 0 <= part < tree.part_count(node) else ""


def journey_rows(
    content: Content, journeys: Sequence[Journey], names: Pseudonyms, node_title: Callable[[str], str]
) -> Iterator[list[Cell]]:
    """One row per journey event (JOURNEY_COLUMNS), calls oldest first, each call's events in order."""
    for journey in journeys:
        call = journey.call
        caller, call_name = names.caller(call.caller_hash), names.call(call.call_sid)
        language = call_language(journey, content.languages, content.default_language)
        for event in journey.events:
            yield [
                caller,
                call_name,
                timestamp(call.started_at),
                language,
                timestamp(event.at),
                event.event,
                event.node,
                node_title(event.node),
                part_number(content, event.node, event.part),
                call.status,
            ]


@dataclass(frozen=True, slots=True)
class Period:
    """The days a page or an export covers (inclusive, UTC); None: no bound on that side."""

    first: date | None
    last: date | None

    def label(self) -> str:
        """For file names and audit entries: 2026-11-01-to-2026-11-30, "start"/"now" when open."""
        return f"{self.first or 'start'}-to-{self.last or 'now'}"


def figure_rows(
    content: Content, figures: ListeningFigures, period: Period, node_title: Callable[[str], str]
) -> Iterator[list[Cell]]:
    """The figures page as rows (FIGURE_COLUMNS): one figure a row, in the page's order."""
    tree = content.tree
    span = [str(period.first or ""), str(period.last or "")]

    def topic_title(topic: str) -> str:
        return node_title(topic) if tree.has(topic) else topic

    def row(table: str, topic: str, node: str, part: str, figure: str, value: int) -> list[Cell]:
        titled_topic = topic_title(topic) if topic else ""
        return [
            *span,
            table,
            topic,
            titled_topic,
            node,
            node_title(node) if node else "",
            part,
            figure,
            value,
        ]

    yield row("calls", "", "", "", "calls", figures.calls)
    yield row("calls", "", "", "", "ended_calls", figures.ended)
    for t in figures.topics:
        yield row("topics", t.topic, "", "", "parts", t.parts)
        yield row("topics", t.topic, "", "", "calls_reached", t.calls)
        yield row("topics", t.topic, "", "", "callers_reached", t.callers)
        yield row("topics", t.topic, "", "", "calls_heard_half", t.half)
        yield row("topics", t.topic, "", "", "percent_heard_half", t.half_percent)
        yield row("topics", t.topic, "", "", "calls_heard_three_quarters", t.three_quarters)
        yield row("topics", t.topic, "", "", "percent_heard_three_quarters", t.three_quarters_percent)
    for node, calls in figures.ended_at:
        yield row("ended_at", "", node, "", "ended_calls", calls)
    for end in figures.part_ends:
        part = part_number(content, end.node, end.part) or "end"
        yield row("ended_in_topic", end.topic, end.node, part, "ended_calls", end.calls)
    for tr in (*figures.transfers, figures.transfers_total):
        topic, node = (tr.where, "") if is_topic(tree, tr.where) else ("", tr.where)
        table = "transfers" if tr.where else "transfers_total"
        yield row(table, topic, node, "", "requested", tr.requested)
        yield row(table, topic, node, "", "accepted", tr.accepted)
        yield row(table, topic, node, "", "no_one_free", tr.no_one_free)


EXPORTS = ("journeys", "figures")


@dataclass(frozen=True)
class Export:
    """One export of a period, ready to write: its columns, its rows and how many (for the audit log)."""

    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    count: int


def export(
    name: str, content: Content, journeys: Sequence[Journey], period: Period, node_title: Callable[[str], str]
) -> Export:
    """The journeys export (fresh pseudonyms, rows made as they are written) or the figures export
    (`name` of EXPORTS) of a period's journeys: the same for the staff page and `flask data export`."""
    if name == "journeys":
        count = sum(len(journey.events) for journey in journeys)
        return Export(JOURNEY_COLUMNS, journey_rows(content, journeys, Pseudonyms(), node_title), count)
    table = list(figure_rows(content, listening_figures(content.tree, journeys), period, node_title))
    return Export(FIGURE_COLUMNS, table, len(table))
