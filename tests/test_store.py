"""The Store on real SQLite and PostgreSQL: round trips, privacy, outages, concurrency."""

from __future__ import annotations

import logging
import multiprocessing
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from ivr.phone.callers import identify
from ivr.privacy import caller_hash
from ivr.store import Prefs, Store, migrate
from ivr.store.models import SmsOutbox

pytestmark = pytest.mark.integration

SALT = "test-salt"
NUMBER = "+447700900123"
DIGITS = "7700900123"  # the part of NUMBER that no pseudonym, timestamp or sid should contain


def _rows(store: Store, table: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(f"SELECT * FROM {table}"))]


def _queued_sms(store: Store) -> list[tuple[int, str, str]]:
    """The outbox's messages still waiting to be sent, oldest first (nothing in the line lists them)."""
    rows = sorted(_rows(store, "sms_outbox"), key=lambda r: int(r["id"]))
    return [(r["id"], r["to_number"], r["status"]) for r in rows if r["status"] == "queued"]


def _has_number(value: object) -> bool:
    return DIGITS in re.sub(r"\D", "", str(value))


# Preferences, calls, events.


def test_prefs_round_trip(store: Store) -> None:
    me, other = caller_hash("+15005550006", SALT), caller_hash("+15005550007", SALT)
    assert store.get_prefs(me) is None
    assert store.save_prefs(me, language="es") is True, "nothing went wrong..."
    assert store.get_prefs(me) is None and _rows(store, "callers") == [], (
        "...but nothing kept without consent"
    )

    assert store.save_consent(me, "n1", language="es", rate="normal") is True
    assert store.get_prefs(me) == Prefs(language="es", rate="normal")
    assert store.save_prefs(me, rate=None) is True
    assert store.get_prefs(me) == Prefs(language="es", rate="normal")
    first = _rows(store, "callers")[0]

    time.sleep(0.01)
    assert store.save_prefs(me, rate="slow") is True
    assert store.get_prefs(me) == Prefs(language="es", rate="slow"), "None must leave language alone"
    assert store.save_prefs(me, language="en") is True
    assert store.get_prefs(me) == Prefs(language="en", rate="slow")
    assert store.get_prefs(other) is None

    (row,) = _rows(store, "callers")
    assert row["first_seen"] == first["first_seen"]
    assert row["last_seen"] != first["last_seen"]


def test_prefs_work_with_the_short_log_reference_too(store: Store) -> None:
    ref = identify("+15005550006", SALT).ref
    assert store.save_consent(ref, "n1", language="en", rate="normal")
    assert store.save_prefs(ref, language="fr")
    assert store.get_prefs(ref) == Prefs("fr", "normal")


def test_events_come_back_in_the_order_they_happened(store: Store) -> None:
    journey: list[tuple[str, str, int, str | None]] = [("start", "main", 0, None)]
    journey += [("topic", "symptoms", part, f"part {part}") for part in range(12)]
    journey += [("back", "main", 0, None), ("hangup", "main", 0, "caller hung up")]
    for i, (event, node, part, detail) in enumerate(journey):
        assert store.record_event("CAjourney", event, node, part, detail)
        assert store.record_event("CAother", "noise", f"n{i}", i)  # interleaved with another call

    events = store.events_for("CAjourney")
    assert [(e.event, e.node, e.part, e.detail) for e in events] == journey
    assert all(e.at.tzinfo is UTC for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert len(store.events_for("CAother")) == len(journey)
    assert store.events_for("CAnobody") == []


def test_a_call_from_start_to_end(store: Store) -> None:
    me = caller_hash("+15005550006", SALT)
    assert store.call_started("CAcall", me, "en")
    assert store.call_started("CAcall", me, "en"), "Twilio retries a webhook: the same start twice is fine"
    call = store.get_call("CAcall")
    assert call is not None
    assert (call.caller_hash, call.status, call.language, call.ended_at) == (me, "in-progress", "en", None)
    assert store.get_prefs(me) is None, "a call alone keeps nothing of the caller (no consent)"
    assert _rows(store, "callers") == []

    assert store.call_ended("CAcall", "completed", 95)
    ended = store.get_call("CAcall")
    assert ended is not None and ended.ended_at is not None
    assert (ended.status, ended.duration_seconds, ended.started_at) == ("completed", 95, call.started_at)
    assert ended.ended_at >= ended.started_at
    assert len(_rows(store, "calls")) == 1


def test_a_call_whose_start_was_lost_is_still_recorded_at_its_end(store: Store) -> None:
    assert store.call_ended("CAlate", "completed", 30)
    call = store.get_call("CAlate")
    assert call is not None and call.ended_at is not None
    assert (call.status, call.duration_seconds, call.caller_hash) == ("completed", 30, None)
    assert (call.ended_at - call.started_at).total_seconds() == pytest.approx(30)


def test_long_values_are_cut_to_fit_rather_than_lost(store: Store) -> None:
    assert store.record_event("CAlong", "e" * 100, "n" * 100, 1, "d" * 1000)
    (event,) = store.events_for("CAlong")
    assert (len(event.event), len(event.node), len(event.detail or "")) == (32, 64, 200)


# Privacy: numbers only where they must be.


def test_caller_numbers_are_never_stored_in_clear(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    me = caller_hash(NUMBER, SALT)
    store.call_started("CAp1", me, "en")
    store.save_consent(me, "n1", language="en", rate="slow")
    store.record_event("CAp1", "speech", "main", 0, detail=f"call me back on {NUMBER}")
    store.record_event("CAp1", "keys", "main", 0, detail="pressed 07700 900123")
    store.call_ended("CAp1", "completed", 40)
    # A careless caller of the API that passes the number itself: refused, never written.
    assert store.save_prefs(NUMBER, language="fr") is False
    assert store.save_consent(NUMBER, "n1", language="fr", rate="normal") is False
    assert store.get_prefs(NUMBER) is None
    assert store.call_started("CAp2", NUMBER, "en") is True
    call = store.get_call("CAp2")
    assert call is not None and call.caller_hash is None
    assert "refused a caller_hash" in caplog.text and not _has_number(caplog.text)

    for table in ("callers", "calls", "journey_events"):
        rows = _rows(store, table)
        assert rows
        leaks = [(table, name, v) for row in rows for name, v in row.items() if _has_number(v)]
        assert leaks == []
    assert {r["caller_hash"] for r in _rows(store, "callers")} == {me}

    # The check above does see a number where one is kept on purpose.
    store.add_callback("CAp1", me, NUMBER)
    assert [r["callback_number"] for r in _rows(store, "callbacks") if _has_number(r["callback_number"])]


# Call-centre work.


def test_callbacks_add_list_done(store: Store) -> None:
    me = caller_hash(NUMBER, SALT)
    first = store.add_callback("CAcb1", me, f" {NUMBER} ", specialty="neurology", language="en")
    second = store.add_callback("CAcb2", None, "+15005550006")
    assert isinstance(first, int) and isinstance(second, int) and first != second

    open_ = store.callbacks()  # what the staff callbacks page lists: the open ones
    assert [c.id for c in open_] == [first, second]
    assert (open_[0].callback_number, open_[0].specialty, open_[0].caller_hash) == (NUMBER, "neurology", me)
    assert open_[0].done_at is None

    assert store.callback_done(first, "alice") is True
    assert store.callback_done(first, "bob") is False, "already done"
    assert store.callback_done(10_000, "bob") is False
    assert [c.id for c in store.callbacks()] == [second]
    done = next(r for r in _rows(store, "callbacks") if r["id"] == first)
    assert done["done_by"] == "alice" and done["done_at"] is not None


def test_recordings_add_list(store: Store) -> None:
    rid = store.add_recording(
        "CArec", "https://api.twilio.com/rec/RE1", duration_seconds=42, specialty="genetics"
    )
    assert isinstance(rid, int)
    (rec,) = store.recordings()
    assert (
        rec.id,
        rec.call_sid,
        rec.recording_url,
        rec.duration_seconds,
        rec.specialty,
        rec.reviewed_at,
        rec.reviewed_by,
    ) == (
        rid,
        "CArec",
        "https://api.twilio.com/rec/RE1",
        42,
        "genetics",
        None,
        None,
    )
    assert rec.created_at.tzinfo is UTC


def test_recording_reviewed_keeps_who_reviewed_it_first(store: Store) -> None:
    rid = store.add_recording("CArev", "https://api.twilio.com/rec/RE2")
    other = store.add_recording("CArev", "https://api.twilio.com/rec/RE3")
    assert isinstance(rid, int) and isinstance(other, int)

    assert store.recording_reviewed(rid, "alice") is True
    assert store.recording_reviewed(rid, "bob") is False, "already reviewed"
    assert store.recording_reviewed(10_000, "bob") is False
    assert [r.id for r in store.recordings()] == [other]
    reviewed, waiting = store.recordings(unreviewed_only=False)
    assert (reviewed.id, reviewed.reviewed_by) == (rid, "alice"), "a second review must not take it over"
    assert reviewed.reviewed_at is not None and reviewed.reviewed_at.tzinfo is UTC
    assert (waiting.reviewed_at, waiting.reviewed_by) == (None, None)
    (row,) = (r for r in _rows(store, "recordings") if r["id"] == rid)
    assert row["reviewed_by"] == "alice"


def test_sms_outbox_queue_sent_failed(store: Store) -> None:
    a = store.queue_sms("CAsms", NUMBER, "The line's number again: 0800 000 000")
    b = store.queue_sms(None, "+15005550006", "Hello")
    assert a is not None and b is not None
    assert _queued_sms(store) == [(a, NUMBER, "queued"), (b, "+15005550006", "queued")]

    assert store.sms_sent(a, "SM123") is True
    assert store.sms_failed(b, f"21211: invalid 'To' number {NUMBER}") is True
    assert store.sms_sent(a, "SM999") is False, "only a queued message changes state"
    assert store.sms_failed(b, "again") is False, "only a queued message changes state"
    assert _queued_sms(store) == []
    rows = {r["id"]: r for r in _rows(store, "sms_outbox")}
    assert (rows[a]["status"], rows[a]["twilio_sid"]) == ("sent", "SM123") and rows[a]["sent_at"] is not None
    assert rows[b]["status"] == "failed" and not _has_number(rows[b]["error"])


def test_sms_status_is_constrained_by_the_database(store: Store) -> None:
    row = {"to_number": "+15005550006", "body": "x", "created_at": datetime.now(UTC)}
    with store.engine.begin() as conn:
        conn.execute(insert(SmsOutbox).values(status="queued", **row))
    with pytest.raises(IntegrityError, match="ck_sms_outbox_status"), store.engine.begin() as conn:
        conn.execute(insert(SmsOutbox).values(status="lost", **row))


# Resilience: the database away must never hold up or break a call.


def _every_call_time_method(store: Store) -> list[object]:
    me = caller_hash(NUMBER, SALT)
    return [
        store.get_prefs(me),
        store.save_prefs(me, language="en"),
        store.call_started("CAdown", me, "en"),
        store.record_event("CAdown", "menu", "main", 0, "pressed 2"),
        store.call_ended("CAdown", "completed", 12),
        store.events_for("CAdown"),
        store.get_call("CAdown"),
        store.add_callback("CAdown", me, NUMBER, specialty="neurology"),
        store.add_recording("CAdown", "https://example.org/RE1"),
        store.queue_sms("CAdown", NUMBER, "hello"),
        store.callbacks(),
        store.recordings(),
        store.callback_done(1, "alice"),
        store.sms_sent(1, "SM1"),
        store.sms_failed(1, "21211"),
    ]


DEFAULTS: list[object] = [
    None,
    False,
    False,
    False,
    False,
    [],
    None,
    None,
    None,
    None,
    [],
    [],
    False,
    False,
    False,
]
WRITES = [
    "save_prefs",
    "call_started",
    "record_event",
    "call_ended",
    "add_callback",
    "add_recording",
    "queue_sms",
]


@pytest.mark.parametrize("down", ["postgres-closed-port", "sqlite-unwritable-path"])
def test_database_down_gives_defaults_quickly_and_logs_each_lost_write(
    down: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.store")
    url = {
        "postgres-closed-port": "postgresql://postgres@127.0.0.1:1/ivr",
        "sqlite-unwritable-path": f"sqlite:///{tmp_path / 'no-such-dir' / 'ivr.sqlite3'}",
    }[down]
    store = Store.from_url(url)
    started = time.monotonic()
    assert store.prepare() is False
    assert _every_call_time_method(store) == DEFAULTS
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"took {elapsed:.2f} s"

    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LOST WRITE")]
    assert [m.split()[2] for m in lost if m.split()[2] in WRITES] == WRITES
    assert "LOST WRITE record_event call_sid=CAdown event=menu node=main part=0" in caplog.text
    assert "LOST WRITE add_callback call_sid=CAdown caller=caller-" in caplog.text
    assert all(r.levelno >= logging.WARNING for r in caplog.records)
    assert not _has_number(caplog.text), "a phone number reached the log"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and then never says a word: a hung database server."""
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_hung_database_costs_one_connect_timeout_then_nothing(
    silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.store")
    store = Store.from_url(f"postgresql://postgres@127.0.0.1:{silent_server}/ivr")
    started = time.monotonic()
    assert store.record_event("CAhung", "menu", "main", 0) is False
    first = time.monotonic() - started
    assert 1 <= first < 3, f"gave up after {first:.2f} s"  # it did wait, for the connect timeout only

    started = time.monotonic()
    assert _every_call_time_method(store) == DEFAULTS
    rest = time.monotonic() - started
    assert rest < 0.2, f"the next calls should skip the database, took {rest:.2f} s"
    assert "LOST WRITE call_ended call_sid=CAdown status=completed" in caplog.text
    assert "database unavailable, next try in" in caplog.text


@pytest.fixture(params=["sqlite", "postgres"])
def late_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A database URL whose database does not exist yet, and a function that makes it."""
    if request.param == "sqlite":
        folder = tmp_path / "not-yet"
        yield f"sqlite:///{folder / 'ivr.sqlite3'}", lambda: folder.mkdir()
        return
    base = make_url(request.getfixturevalue("postgres_database"))
    name = f"{base.database}_late"
    admin = base.set(database="postgres").render_as_string(hide_password=False)

    def create() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    yield base.set(database=name).render_as_string(hide_password=False), create
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_when_the_database_comes_back_the_store_migrates_and_works(late_database: tuple[str, Any]) -> None:
    url, create = late_database
    store = Store.from_url(url, retry_after=5.0)
    now = [1000.0]  # the breaker's clock, moved by hand: a slow CREATE DATABASE must not matter
    store.breaker.clock = lambda: now[0]
    assert store.prepare() is False
    me = caller_hash(NUMBER, SALT)
    assert store.save_prefs(me, language="en") is False

    create()
    now[0] += 4.9
    assert store.save_prefs(me, language="de") is False, "still inside the retry window"
    now[0] += 0.2
    assert store.save_prefs(me, language="de") is True
    assert store.save_consent(me, "n1", language="de", rate="normal") is True
    assert store.get_prefs(me) == Prefs("de", "normal")
    assert migrate.current(store.engine) == migrate.head()
    store.dispose()


def test_a_caller_s_prefs_survive_a_dropped_connection_and_a_broken_table(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The prefs read at every call's start goes straight to a pooled connection: it must still
    recover from a connection the server dropped, and answer "unknown" (logged) for a broken table."""
    caplog.set_level(logging.WARNING, logger="ivr.store")
    me = caller_hash(NUMBER, SALT)
    store.save_consent(me, "n1", language="hi", rate="slow")
    assert store.get_prefs(me) == Prefs("hi", "slow")
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:  # the pool's one connection: its server process is ended
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        url = store.engine.url.set(drivername="postgresql", query={}).render_as_string(False)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert store.get_prefs(me) == Prefs("hi", "slow"), "the pool replaces a dead connection"
    assert "read failed" not in caplog.text

    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE callers RENAME COLUMN rate TO speed"))
    assert store.get_prefs(me) is None
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("read failed get_prefs")]
    assert len(failed) == 1 and "went on without it" in failed[0]
    assert not _has_number(caplog.text)


def test_login_failures_count_in_a_window_from_the_first_and_start_afresh_after_it(store: Store) -> None:
    keys = ["user:asha", "ip:198.51.100.7"]
    assert store.login_failures(keys, 1000.0) == [(0, 0.0), (0, 0.0)]
    assert store.add_login_failure(keys, 1000.0, 900) == [1, 1]
    assert store.add_login_failure(["user:asha"], 1500.0, 900) == [2]
    assert store.login_failures(keys, 1600.0) == [(2, 300.0), (1, 300.0)], "the window runs from the first"
    assert store.login_failures(keys, 1900.0) == [(0, 0.0), (0, 0.0)], "and ends 900 s after it"
    assert store.add_login_failure(["user:asha"], 1900.0, 900) == [1], "a new window"
    assert store.login_failures(["user:asha"], 1900.0) == [(1, 900.0)]
    assert store.clear_login_failures("user:asha") is True
    assert store.login_failures(keys, 1900.0) == [(0, 0.0), (0, 0.0)]
    assert store.add_login_failure(["user:ravi"], 3000.0, 900) == [1]
    with store.engine.connect() as conn:  # windows long over are forgotten, not kept for ever
        assert list(conn.execute(text("SELECT key FROM login_failures"))) == [("user:ravi",)]


# Concurrency: several gunicorn workers, each with threads.


def _write_in_child(url: str, call_sid: str, count: int) -> None:
    store = Store.from_url(url, migrate=False)
    ok = all(store.record_event(call_sid, "step", "main", i) for i in range(count))
    ok = all(store.save_prefs(caller_hash("+15005550006", SALT), rate=str(i)) for i in range(count)) and ok
    store.dispose()
    sys.exit(0 if ok else 1)


@pytest.mark.slow
def test_concurrent_writes_from_threads_and_processes_all_land(
    store: Store, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.store")
    threads_n, procs_n, each = 8, 3, 40
    results: list[bool] = []
    lock = threading.Lock()

    def thread_work(t: int) -> None:
        mine = [store.record_event(f"CAthread{t}", "step", "main", i) for i in range(each)]
        mine += [store.save_prefs(caller_hash("+15005550006", SALT), language=f"l{t}") for _ in range(5)]
        with lock:
            results.extend(mine)

    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_write_in_child, args=(database_url, f"CAproc{p}", each)) for p in range(procs_n)
    ]
    for proc in procs:
        proc.start()
    threads = [threading.Thread(target=thread_work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for proc in procs:
        proc.join(60)

    assert [p.exitcode for p in procs] == [0] * procs_n
    assert len(results) == threads_n * (each + 5) and all(results)
    assert "LOST WRITE" not in caplog.text
    for t in range(threads_n):
        assert [e.part for e in store.events_for(f"CAthread{t}")] == list(range(each))
    for p in range(procs_n):
        assert [e.part for e in store.events_for(f"CAproc{p}")] == list(range(each))
    assert len(_rows(store, "journey_events")) == (threads_n + procs_n) * each


def test_connections_are_set_up_for_short_waits_and_several_writers(store: Store) -> None:
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3000
        else:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1500ms"
            assert conn.exec_driver_sql("SELECT current_schema()").scalar() != "public", "test isolation"
