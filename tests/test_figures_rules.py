"""The listening figures' rules on journeys as the store gives them back (ivr/web/figures.py), the
CSV formula guard and the period's parsing: what a part heard, a transfer accepted and a date are."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.store import CallRow, EventRow, Journey
from ivr.web.exports import Pseudonyms, csv_lines, safe_cell
from ivr.web.figures import call_language, heard_parts, listening_figures
from ivr.web.figures_page import bounds, parse_period

pytestmark = pytest.mark.unit

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
T0 = datetime(2026, 11, 25, 5, 30, tzinfo=UTC)


def journey(steps: list[tuple[str, str, int]], *, ended: bool = True, caller: str | None = None) -> Journey:
    """A call made of (event, node, part) steps, a second apart."""
    call = CallRow("CA1", caller, T0, T0 + timedelta(minutes=5) if ended else None, 300, "completed", None)
    events = [EventRow(T0 + timedelta(seconds=i), e, n, p, None) for i, (e, n, p) in enumerate(steps)]
    return Journey(call, events)


def test_a_part_is_heard_only_when_the_line_went_on_from_it_by_itself() -> None:
    steps = [
        ("option:1", "symptoms", 0),
        ("repeat", "symptoms", 0),  # 9: part 1 again, then it ran out: heard
        ("play", "symptoms", 1),
        ("help", "symptoms", 1),  # help during part 2, then part 2 again, then silence: heard
        ("resume", "symptoms", 1),
        ("play", "symptoms", 2),
        ("next", "symptoms", 3),  # part 3 skipped
        ("rate:slow", "symptoms", 3),  # part 4, slower, then the caller hung up in it
    ]
    assert heard_parts(TREE, journey(steps).events) == {("symptoms", 0), ("symptoms", 1)}


@pytest.mark.parametrize(
    ("heard", "half", "most"),
    [(3, 0, 0), (4, 1, 0), (5, 1, 0), (6, 1, 1), (7, 1, 1)],
    ids=["3 of 7", "4 of 7", "5 of 7", "6 of 7", "all 7"],
)
def test_the_shares_count_every_part_of_a_series(heard: int, half: int, most: int) -> None:
    # The six types: seven sections of one part each, heard one after another.
    sections = TREE.topic_sections("categories")
    steps = [("option:3", sections[0], 0)]  # then each section ran out into the next, and the caller
    steps += [("play", node, 0) for node in sections[1 : heard + 1]]  # hung up in the last one said
    if heard == len(sections):
        steps.append(("play", sections[-1], 1))  # the topic's end
    figures = listening_figures(TREE, [journey(steps)])
    row = next(r for r in figures.topics if r.topic == "categories")
    assert (row.parts, row.calls, row.half, row.three_quarters) == (7, 1, half, most)
    assert (row.half_percent, row.three_quarters_percent) == (100 * half, 100 * most)


def test_transfers_count_where_they_were_asked_and_only_a_conversation_as_accepted() -> None:
    call = journey(
        [
            ("option:1", "symptoms", 0),
            ("closed:neurology", "_specialist", 0),  # no one at this hour: the call-back choices
            ("back", "symptoms", 0),
            ("transfer:neurology", "symptoms", 0),
            ("dial:busy", "_specialist", 0),
            ("transfer:helpdesk", "_specialist", 0),  # 3 at the choices: the help desk, answered
            ("dial:completed", "_specialist", 0),
            ("emergency", "_emergency", 0),
            ("emergency:transfer", "_emergency", 0),
            ("dial:no-answer", "_emergency", 0),
            ("operator:unavailable", "main", 0),
        ]
    )
    stray = journey([("dial:completed", "main", 0)])  # an outcome without a transfer counts nowhere
    figures = listening_figures(TREE, [call, stray])
    found = [(t.where, t.requested, t.accepted, t.no_one_free) for t in figures.transfers]
    # "closed" was recorded at the call-back choices: that is where the caller was sent.
    assert found == [
        ("_emergency", 1, 0, 0),
        ("_specialist", 1, 1, 1),
        ("main", 0, 0, 1),
        ("symptoms", 1, 0, 0),
    ]
    total = figures.transfers_total
    assert (total.requested, total.accepted, total.no_one_free) == (3, 1, 2)


def test_where_a_call_ended_counts_only_calls_whose_end_is_known() -> None:
    ended = journey([("option:2", "causes", 0), ("play", "causes", 1)])
    live = journey([("option:2", "causes", 0)], ended=False)
    figures = listening_figures(TREE, [ended, live])
    assert (figures.calls, figures.ended, figures.ended_at) == (2, 1, [("causes", 1)])
    assert [(e.topic, e.node, e.part, e.calls) for e in figures.part_ends] == [("causes", "causes", 1, 1)]
    causes = next(r for r in figures.topics if r.topic == "causes")
    assert (causes.calls, causes.callers) == (2, 0), "withheld numbers: calls, but no callers"


def test_a_call_that_ended_before_any_step_was_recorded_still_counts_as_ended() -> None:
    # Its start was lost (the row was made by Twilio's final status): "2 calls, 1 of them ended"
    # was said of two calls that had both ended.
    figures = listening_figures(TREE, [journey([("option:2", "causes", 0)]), journey([])])
    assert (figures.calls, figures.ended) == (2, 2)
    assert figures.ended_at == [("causes", 1)], "no place to name for the call without steps"


def test_the_language_is_the_last_one_chosen_else_the_one_the_call_started_in() -> None:
    langs, default = CONTENT.languages, CONTENT.default_language
    assert (
        call_language(journey([("language:hi", "main", 0), ("language:en", "main", 0)]), langs, default)
        == "en"
    )
    assert call_language(journey([("language:default", "main", 0)]), langs, default) == "en"
    assert call_language(journey([("language:kept", "main", 0)]), langs, default) == ""
    known = Journey(journey([]).call.__class__("CA2", "k" * 64, T0, None, None, "in-progress", "hi"), [])
    assert call_language(known, langs, default) == "hi"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_text_cell_a_spreadsheet_would_run_gets_a_quote(start: str) -> None:
    assert safe_cell(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    line = "".join(csv_lines(["event"], [[f"{start}cmd"]]))
    assert line.splitlines()[1].lstrip('"').startswith("'")


def test_other_cells_are_written_as_they_are() -> None:
    assert safe_cell("play") == "play" and safe_cell(-3) == -3 and safe_cell("a=b") == "a=b"


def test_names_differ_between_exports_and_stay_the_same_within_one() -> None:
    one, two = Pseudonyms(), Pseudonyms()
    assert one.caller("k" * 64) == one.caller("k" * 64) != two.caller("k" * 64)
    assert one.call("CA1") != one.call("CA2") and one.caller(None) == ""


@pytest.mark.parametrize(
    ("first", "last", "said"),
    [
        ("20261125", "", "From: '20261125' is not a date."),
        ("", "2026-11-31", "To: '2026-11-31' is not a date."),
        (" 2026-11-26", "2026-11-25 ", "To is before From"),
    ],
)
def test_a_period_must_be_days_in_order(first: str, last: str, said: str) -> None:
    _, errors = parse_period(first, last)
    assert len(errors) == 1 and errors[0].startswith(said)


def test_a_period_runs_from_midnight_to_midnight_after_its_last_day() -> None:
    period, errors = parse_period("2026-11-01", "2026-11-30")
    assert not errors
    assert bounds(period) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    endless, _ = parse_period("", "9999-12-31")
    assert bounds(endless) == (None, None) and endless.last == date.max
