"""Listening figures and exports (issue 17): a scripted set of calls walked through the signed
webhooks, then the figures page's tables, both CSV exports (every value), their privacy, the audit
log, the period filter, and `flask data export`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text as sql
from sqlalchemy import update

from ivr import services
from ivr.privacy import caller_hash
from ivr.store import Store
from ivr.store.audit import command_line_actor
from ivr.store.models import Call
from ivr.web.staff import hash_password
from tests.support.html_tables import table_by_caption
from tests.support.scripted_calls import ScriptedCalls, figures_app, walk_scripted_calls
from tests.support.web import SALT, STAFF_PASSWORD, STAFF_USER, log_in

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The columns README.md documents, in its words (a CSV file's first line).
JOURNEY_HEADER = next(
    csv.reader(["caller,call,call_started,language,event_at,event,node,node_title,part,call_status"])
)
FIGURE_HEADER = next(csv.reader(["from,to,table,topic,topic_title,node,node_title,part,figure,value"]))
LANGUAGE, MAIN, SC = "Language choice", "Main menu (main)", "Symptoms and causes (symptoms_causes)"
CONSENT = "Asked to remember"
ABOUT = "What neuromuscular disorders are (about)"
# Each scripted call's journey as the export says it: event, node, node title, part (1 = the first).
STEPS = {
    "whole": [
        ("start:language", "_language", LANGUAGE, ""),
        ("language:en", "_consent", CONSENT, ""),
        ("consent:yes", "_consent", CONSENT, ""),  # agreed, then kept: "I will remember" only once kept
        ("consent:kept", "main", MAIN, ""),
        ("option:1", "symptoms_causes", SC, ""),
        ("option:1", "symptoms", "Symptoms", "1"),
        ("play", "symptoms", "Symptoms", "2"),
        ("play", "symptoms", "Symptoms", "3"),
        ("play", "symptoms", "Symptoms", "4"),
        ("play", "symptoms", "Symptoms", ""),  # the topic's end
    ],
    "skipper": [
        ("start:language", "_language", LANGUAGE, ""),
        ("language:hi", "_consent", CONSENT, ""),
        ("consent:no", "main", MAIN, ""),
        ("option:1", "symptoms_causes", SC, ""),
        ("option:1", "symptoms", "Symptoms", "1"),
        ("next", "symptoms", "Symptoms", "2"),
        ("play", "symptoms", "Symptoms", "3"),
        ("next", "symptoms", "Symptoms", "4"),
        ("play", "symptoms", "Symptoms", ""),
    ],
    "hung_up": [
        ("start:language", "_language", LANGUAGE, ""),
        ("language:en", "_consent", CONSENT, ""),
        ("consent:no", "main", MAIN, ""),
        ("option:1", "symptoms_causes", SC, ""),
        ("option:2", "causes", "Causes", "1"),
        ("play", "causes", "Causes", "2"),
    ],
    "answered": [
        ("start:language", "_language", LANGUAGE, ""),
        ("language:en", "_consent", CONSENT, ""),
        ("consent:no", "main", MAIN, ""),
        ("option:4", "about", ABOUT, "1"),
        ("transfer:helpdesk", "about", ABOUT, "1"),
        ("whisper:accepted", "about", ABOUT, "1"),
        ("dial:completed", "about", ABOUT, "1"),
    ],
    "not_answered": [
        ("start:language", "_language", LANGUAGE, ""),
        ("language:en", "_consent", CONSENT, ""),
        ("consent:no", "main", MAIN, ""),
        ("transfer:helpdesk", "main", MAIN, ""),
        ("dial:no-answer", "_specialist", "Call back or question", ""),
    ],
    "returning": [
        ("start", "main", MAIN, ""),
        ("option:1", "symptoms_causes", SC, ""),
        ("option:1", "symptoms", "Symptoms", "1"),
        ("play", "symptoms", "Symptoms", "2"),
        ("play", "symptoms", "Symptoms", "3"),
        ("play", "symptoms", "Symptoms", "4"),
    ],
    "live": [
        ("start:language", "_language", LANGUAGE, ""),
        ("language:en", "_consent", CONSENT, ""),
        ("consent:no", "main", MAIN, ""),
    ],
}
LANGUAGES = {"skipper": "hi"}  # every other call is in English
# Per topic, in menu order: title, parts, calls that reached it, callers, heard at least half (calls,
# percent), at least three quarters (calls, percent). Symptoms: whole heard 4 of 4, skipper 2 of 4
# (parts 2 and 4 were skipped), returning 3 of 4 (hung up in part 4); two callers (whole called again).
TOPICS = [
    ("symptoms", "Symptoms", 4, 3, 2, 3, 100, 2, 67),
    ("causes", "Causes", 3, 1, 1, 0, 0, 0, 0),  # heard part 1 of 3, hung up in part 2
    ("drug_therapy", "Medicines (drug_therapy)", 3, 0, 0, 0, 0, 0, 0),
    ("specialists", "Referrals to specialists (specialists)", 2, 0, 0, 0, 0, 0, 0),
    ("categories", "The six types (categories)", 7, 0, 0, 0, 0, 0, 0),
    ("about", ABOUT, 4, 1, 1, 0, 0, 0, 0),  # asked for a person during part 1
]
TOPIC_FIGURES = (
    "parts",
    "calls_reached",
    "callers_reached",
    "calls_heard_half",
    "percent_heard_half",
    "calls_heard_three_quarters",
    "percent_heard_three_quarters",
)


def expected_figures(first: str = "", last: str = "") -> list[list[str]]:
    """The figures export of the scripted calls, row by row (no period: from and to are empty)."""

    def row(
        table: str, topic: str, title: str, node: str, node_title: str, part: str, figure: str, v: int
    ) -> list[str]:
        return [first, last, table, topic, title, node, node_title, part, figure, str(v)]

    rows = [row("calls", "", "", "", "", "", "calls", 7), row("calls", "", "", "", "", "", "ended_calls", 6)]
    for topic, title, *values in TOPICS:
        rows += [
            row("topics", topic, title, "", "", "", f, v) for f, v in zip(TOPIC_FIGURES, values, strict=True)
        ]
    rows += [
        row("ended_at", "", "", "symptoms", "Symptoms", "", "ended_calls", 3),
        row("ended_at", "", "", "_specialist", "Call back or question", "", "ended_calls", 1),
        row("ended_at", "", "", "about", ABOUT, "", "ended_calls", 1),
        row("ended_at", "", "", "causes", "Causes", "", "ended_calls", 1),
        row("ended_in_topic", "symptoms", "Symptoms", "symptoms", "Symptoms", "4", "ended_calls", 1),
        row("ended_in_topic", "symptoms", "Symptoms", "symptoms", "Symptoms", "end", "ended_calls", 2),
        row("ended_in_topic", "causes", "Causes", "causes", "Causes", "2", "ended_calls", 1),
        row("ended_in_topic", "about", ABOUT, "about", ABOUT, "1", "ended_calls", 1),
    ]
    transfers = [
        ("transfers", "about", ABOUT, "", "", (1, 1, 0)),
        ("transfers", "", "", "main", MAIN, (1, 0, 0)),
        ("transfers_total", "", "", "", "", (2, 1, 0)),
    ]
    for table, topic, title, node, node_title, counts in transfers:
        for figure, value in zip(("requested", "accepted", "no_one_free"), counts, strict=True):
            rows.append(row(table, topic, title, node, node_title, "", figure, value))
    return rows


def store_of(app: Flask) -> Store:
    store: Store = services.store(app)
    return store


@pytest.fixture
def walked(database_url: str) -> Iterator[tuple[Flask, ScriptedCalls]]:
    """The scripted calls on SQLite or PostgreSQL, and a call-centre user to read the figures."""
    app = figures_app(database_url)
    calls = walk_scripted_calls(app)
    assert store_of(app).add_staff_user(STAFF_USER, hash_password(STAFF_PASSWORD))
    yield app, calls
    store_of(app).dispose()


@pytest.fixture
def on_sqlite(tmp_path: Path) -> Iterator[tuple[Flask, ScriptedCalls]]:
    app = figures_app(f"sqlite:///{tmp_path / 'figures.sqlite3'}")
    calls = walk_scripted_calls(app)
    assert store_of(app).add_staff_user(STAFF_USER, hash_password(STAFF_PASSWORD))
    yield app, calls
    store_of(app).dispose()


def logged_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert log_in(client) == 303
    return client


def csv_of(client: FlaskClient, url: str) -> tuple[list[list[str]], str]:
    """A CSV download's rows (header first) and its file name; checks it is a UTF-8 CSV attachment."""
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = re.fullmatch(r'attachment; filename="([^"]+)"', response.headers["Content-Disposition"])
    assert disposition is not None
    return list(csv.reader(io.StringIO(response.get_data(as_text=True)))), disposition.group(1)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_figures_page_shows_the_scripted_calls(walked: tuple[Flask, ScriptedCalls]) -> None:
    app, _ = walked
    page = logged_in(app).get("/staff/figures/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "7 calls in the period, 6 of them ended." in html
    assert table_by_caption(html, "topics-caption") == [
        [
            "Topic",
            "Parts",
            "Calls that reached it",
            "Callers (known numbers)",
            "Calls that heard at least half",
            "Calls that heard at least three quarters",
        ],
        *[
            [t, str(p), str(c), str(k), f"{h} ({hp}%)", f"{q} ({qp}%)"]
            for _, t, p, c, k, h, hp, q, qp in TOPICS
        ],
    ]
    assert table_by_caption(html, "ended-caption") == [
        ["Where", "Calls that ended there"],
        ["Symptoms", "3"],
        ["Call back or question", "1"],
        [ABOUT, "1"],
        ["Causes", "1"],
    ]
    assert table_by_caption(html, "part-ends-caption") == [
        ["Topic", "Section", "Part", "Calls that ended there"],
        ["Symptoms", "Symptoms", "part 4", "1"],
        ["Symptoms", "Symptoms", "the topic's end", "2"],
        ["Causes", "Causes", "part 2", "1"],
        [ABOUT, ABOUT, "part 1", "1"],
    ]
    assert table_by_caption(html, "transfers-caption") == [
        [
            "Where",
            "Transfers begun",
            "Accepted (the caller talked to someone)",
            "Asked when no one could take the call",
        ],
        [ABOUT, "1", "1", "0"],
        [MAIN, "1", "0", "0"],
        ["All", "2", "1", "0"],
    ]
    # The chart says the same in words, beside its table.
    assert "at least half: 3 of 3 (100%)" in html and "at least three quarters: 2 of 3 (67%)" in html


def test_both_exports_have_their_columns_and_every_value(walked: tuple[Flask, ScriptedCalls]) -> None:
    app, calls = walked
    client = logged_in(app)
    figures, name = csv_of(client, "/staff/figures/figures.csv")
    assert name == "figures-start-to-now.csv"
    assert figures == [FIGURE_HEADER, *expected_figures()]

    journeys, name = csv_of(client, "/staff/figures/journeys.csv")
    assert name == "journeys-start-to-now.csv"
    assert journeys[0] == JOURNEY_HEADER
    store = store_of(app)
    expected, rows = [], journeys[1:]
    for who, steps in STEPS.items():
        phone = getattr(calls, who)
        call = store.get_call(phone.call_sid)
        assert call is not None
        events = store.events_for(phone.call_sid)
        status = "in-progress" if who == "live" else "completed"
        for (event, node, title, part), stored in zip(steps, events, strict=True):
            language = LANGUAGES.get(who, "en")
            expected.append(
                [stamp(call.started_at), language, stamp(stored.at), event, node, title, part, status]
            )
    assert [row[2:] for row in rows] == expected, "every call, oldest first, each step in order"
    # One name per call and per caller: whole and returning are the same caller.
    spans, at = {}, 0
    for who, steps in STEPS.items():
        spans[who] = rows[at : at + len(steps)]
        at += len(steps)
    for who, span in spans.items():
        assert len({(row[0], row[1]) for row in span}) == 1, who
        assert re.fullmatch(r"P[0-9a-f]{16}", span[0][0]) and re.fullmatch(r"C[0-9a-f]{16}", span[0][1])
    assert spans["whole"][0][0] == spans["returning"][0][0]
    assert len({span[0][0] for span in spans.values()}) == 6
    assert len({span[0][1] for span in spans.values()}) == 7


def test_the_journeys_export_names_no_number_call_or_caller_the_logs_know(
    on_sqlite: tuple[Flask, ScriptedCalls],
) -> None:
    app, calls = on_sqlite
    client = logged_in(app)
    first = client.get("/staff/figures/journeys.csv").get_data(as_text=True)
    second = client.get("/staff/figures/journeys.csv").get_data(as_text=True)
    for who in STEPS:
        phone = getattr(calls, who)
        key = caller_hash(phone.caller, SALT)
        for body in (first, second):
            assert phone.call_sid not in body
            assert key[:12] not in body, "not the pseudonym the logs and the dashboard use"
            assert phone.caller.lstrip("+")[-10:] not in body
    # Two exports share no name: their rows cannot be joined.
    names = [
        {cell for row in csv.reader(io.StringIO(body)) for cell in row[:2]} - {"caller", "call"}
        for body in (first, second)
    ]
    assert len(names[0]) == 6 + 7 and not names[0] & names[1]


def test_a_cell_a_spreadsheet_would_run_is_written_as_text(on_sqlite: tuple[Flask, ScriptedCalls]) -> None:
    app, calls = on_sqlite
    # An event stored by an older version, or written into the database by hand.
    assert store_of(app).record_event(calls.live.call_sid, '=HYPERLINK("http://x.example")', "@main", 0)
    assert store_of(app).record_event(calls.live.call_sid, "-1+1", "\tmain", 0)
    rows, _ = csv_of(logged_in(app), "/staff/figures/journeys.csv")
    cells = [row[5:8] for row in rows[1:] if row[1] == rows[-1][1]][-2:]
    assert cells == [
        ['\'=HYPERLINK("http://x.example")', "'@main", "'@main"],
        ["'-1+1", "'\tmain", "'\tmain"],
    ]


def test_each_export_is_recorded_before_it_is_sent(on_sqlite: tuple[Flask, ScriptedCalls]) -> None:
    app, _ = on_sqlite
    client = logged_in(app)
    csv_of(client, "/staff/figures/journeys.csv")
    csv_of(client, "/staff/figures/figures.csv?from=2026-11-01")
    found = store_of(app).audit_entries(action="export")
    assert found is not None
    events = sum(len(steps) for steps in STEPS.values())
    assert [(r.actor, r.role, r.action, r.target, r.detail) for r in found[0]] == [
        (STAFF_USER, "staff", "export", "figures 2026-11-01-to-now", f"{len(expected_figures())} rows"),
        (STAFF_USER, "staff", "export", "journeys start-to-now", f"{events} rows"),
    ]


@pytest.mark.parametrize("export", ["journeys", "figures"])
def test_an_export_the_audit_log_cannot_record_is_not_made(
    on_sqlite: tuple[Flask, ScriptedCalls], export: str
) -> None:
    app, _ = on_sqlite
    client = logged_in(app)
    with store_of(app).engine.begin() as conn:
        conn.execute(sql("DROP TABLE audit_log"))
    refused = client.get(f"/staff/figures/{export}.csv")
    assert refused.status_code == 503 and refused.mimetype == "text/html"
    assert "Content-Disposition" not in refused.headers
    assert "The audit log could not be written, so the export was not made." in refused.get_data(as_text=True)


def test_the_figures_are_for_staff_who_have_logged_in(on_sqlite: tuple[Flask, ScriptedCalls]) -> None:
    app, _ = on_sqlite
    for url in ("/staff/figures/", "/staff/figures/journeys.csv", "/staff/figures/figures.csv"):
        refused = app.test_client().get(url)
        assert refused.status_code == 302 and refused.headers["Location"].startswith("/staff/login?next=")
    assert store_of(app).add_staff_user("meera", hash_password(STAFF_PASSWORD), "clinician")
    clinician = app.test_client()
    assert log_in(clinician, "meera") == 303
    page = clinician.get("/staff/figures/")
    assert page.status_code == 200 and 'href="/staff/figures/"' in page.get_data(as_text=True)
    stats = clinician.get("/staff/stats").get_data(as_text=True)
    assert '<a href="/staff/figures/">Listening figures</a>.' in stats, "linked from the statistics"


def test_the_period_chooses_calls_by_the_day_they_started(on_sqlite: tuple[Flask, ScriptedCalls]) -> None:
    app, calls = on_sqlite
    store = store_of(app)
    started = store.get_call(calls.whole.call_sid)
    assert started is not None
    today = started.started_at.date()
    # The caller who hung up inside Causes called ten days ago.
    with store.engine.begin() as conn:
        conn.execute(
            update(Call)
            .where(Call.call_sid == calls.hung_up.call_sid)
            .values(started_at=started.started_at - timedelta(days=10))
        )
    client = logged_in(app)
    recent = client.get(f"/staff/figures/?from={today}&to={today}").get_data(as_text=True)
    assert "6 calls in the period, 5 of them ended." in recent
    assert table_by_caption(recent, "topics-caption")[2] == ["Causes", "3", "0", "0", "0 (0%)", "0 (0%)"]
    before = f"from={today - timedelta(days=10)}&to={today - timedelta(days=1)}"
    old = client.get(f"/staff/figures/?{before}").get_data(as_text=True)
    assert "1 call in the period, 1 of them ended." in old
    assert table_by_caption(old, "topics-caption")[2] == ["Causes", "3", "1", "1", "0 (0%)", "0 (0%)"]
    journeys, name = csv_of(client, f"/staff/figures/journeys.csv?{before}")
    assert name == f"journeys-{today - timedelta(days=10)}-to-{today - timedelta(days=1)}.csv"
    assert [row[5] for row in journeys[1:]] == [step[0] for step in STEPS["hung_up"]]
    figures, _ = csv_of(client, f"/staff/figures/figures.csv?{before}")
    assert figures[1] == [
        str(today - timedelta(days=10)),
        str(today - timedelta(days=1)),
        "calls",
        "",
        "",
        "",
        "",
        "",
        "calls",
        "1",
    ]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("from=25/11/2026", "From: '25/11/2026' is not a date. Write it as year-month-day, like 2026-11-25."),
        ("to=2026-02-30", "To: '2026-02-30' is not a date."),
        ("from=2026-11-25&to=2026-11-24", "To is before From: the period would have no days."),
        ("from=%3Dcmd", "From: '=cmd' is not a date."),
    ],
    ids=["not year-month-day", "no such day", "backwards", "a formula"],
)
def test_a_period_that_is_not_one_is_explained_never_a_500(
    on_sqlite: tuple[Flask, ScriptedCalls], query: str, said: str
) -> None:
    app, _ = on_sqlite
    client = logged_in(app)
    for url in ("/staff/figures/", "/staff/figures/journeys.csv", "/staff/figures/figures.csv"):
        page = client.get(f"{url}?{query}")
        assert page.status_code == 400 and page.mimetype == "text/html"
        assert said in page.get_data(as_text=True).replace("&#39;", "'")
    found = store_of(app).audit_entries(action="export")
    assert found is not None and found[1] == 0, "nothing exported, nothing recorded"


def test_flask_data_export_writes_either_csv_once_it_is_recorded(
    on_sqlite: tuple[Flask, ScriptedCalls], tmp_path: Path
) -> None:
    app, _ = on_sqlite
    runner = app.test_cli_runner()
    out = tmp_path / "figures.csv"
    done = runner.invoke(args=["data", "export", "figures", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert list(csv.reader(io.StringIO(out.read_text(encoding="utf-8")))) == [
        FIGURE_HEADER,
        *expected_figures(),
    ]
    journeys = runner.invoke(args=["data", "export", "journeys", "--from", "2026-01-01"])
    assert journeys.exit_code == 0, journeys.output
    rows = list(csv.reader(io.StringIO(journeys.stdout)))
    assert rows[0] == JOURNEY_HEADER and len(rows) == 1 + sum(len(steps) for steps in STEPS.values())
    found = store_of(app).audit_entries(action="export")
    assert found is not None
    assert [(r.actor, r.role, r.target) for r in found[0]] == [
        (command_line_actor(), None, "journeys 2026-01-01-to-now"),
        (command_line_actor(), None, "figures start-to-now"),
    ]
    wrong = runner.invoke(args=["data", "export", "journeys", "--to", "yesterday"])
    assert wrong.exit_code == 2 and "'yesterday' is not a date" in wrong.output


def test_the_readme_documents_every_column_of_both_exports(on_sqlite: tuple[Flask, ScriptedCalls]) -> None:
    app, _ = on_sqlite
    client = logged_in(app)
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", readme, re.M))
    names = {name for pair in documented for name in pair if name}
    for url in ("/staff/figures/journeys.csv", "/staff/figures/figures.csv"):
        header = csv_of(client, url)[0][0]
        assert set(header) <= names, set(header) - names
