"""Migrations on real SQLite and PostgreSQL: empty to head and back, in step with the models, concurrent."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from ivr import factory, services
from ivr.config import from_env
from ivr.store import DatabaseUrlError, Prefs, Store, default_url, make_engine, migrate, normalise_url
from ivr.store.models import Base
from tests.support.app import SignedClient, make_app

pytestmark = pytest.mark.integration

WORKERS = 4
TABLES = {
    "callers",
    "calls",
    "journey_events",
    "callbacks",
    "recordings",
    "sms_outbox",
    "staff_users",
    "login_failures",
    "sms_quota",
    "webhook_replies",
    "missed_calls",
    "audit_log",
    "signoffs",
}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_to_head_and_downgrade_to_base(database_url: str) -> None:
    engine = make_engine(database_url)
    assert migrate.current(engine) is None
    assert _tables(database_url) == set()

    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert _tables(database_url) == TABLES | {"alembic_version"}
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("journey_events")}
    assert "ix_journey_events_call_sid" in indexes

    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None
    assert _tables(database_url) & TABLES == set()

    # And up again: downgrade left nothing behind that gets in the way.
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    engine.dispose()


def _columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_recordings_reviewed_by_comes_with_0002_and_goes_with_it(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:  # a recording already reviewed, before reviewers were kept
        conn.execute(
            text(
                "INSERT INTO recordings (call_sid, recording_url, created_at, reviewed_at)"
                " VALUES ('CAold', 'https://api.twilio.com/rec/RE1', :at, :at)"
            ),
            {"at": datetime(2026, 11, 24, 9, 15)},
        )
    assert "reviewed_by" not in _columns(engine, "recordings")

    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert "reviewed_by" in _columns(engine, "recordings")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT call_sid, reviewed_at, reviewed_by FROM recordings")).one()
    assert kept.call_sid == "CAold" and kept.reviewed_at is not None and kept.reviewed_by is None
    with engine.begin() as conn:
        conn.execute(text("UPDATE recordings SET reviewed_by = 'asha'"))

    migrate.downgrade(engine, "0001")
    assert migrate.current(engine) == "0001"
    assert "reviewed_by" not in _columns(engine, "recordings")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT call_sid FROM recordings")).scalars().all() == ["CAold"]
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("recordings")}
    assert "ix_recordings_call_sid" in indexes, "SQLite's batch copy must keep the index"

    migrate.upgrade(engine)
    assert "reviewed_by" in _columns(engine, "recordings")
    engine.dispose()


def test_staff_session_version_comes_with_0004_and_users_keep_their_accounts(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:  # a staff user from before sessions had versions
        conn.execute(
            text("INSERT INTO staff_users (username, password_hash, created_at) VALUES ('asha', 'h', :at)"),
            {"at": datetime(2026, 11, 24, 9, 15)},
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT username, session_version FROM staff_users")).one()
    assert (kept.username, kept.session_version) == ("asha", 0)
    migrate.downgrade(engine, "0003")
    assert "session_version" not in _columns(engine, "staff_users")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM staff_users")).scalars().all() == ["asha"]
    engine.dispose()


def test_staff_roles_come_with_0008_and_existing_users_are_call_centre_staff(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0007")
    with engine.begin() as conn:  # a staff user from before roles
        conn.execute(
            text("INSERT INTO staff_users (username, password_hash, created_at) VALUES ('asha', 'h', :at)"),
            {"at": datetime(2026, 11, 24, 9, 15)},
        )
    migrate.upgrade(engine, "0008")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username, role FROM staff_users")).one() == ("asha", "staff")
    with pytest.raises(IntegrityError), engine.begin() as conn:  # no role but the three
        conn.execute(text("UPDATE staff_users SET role = 'superuser'"))
    migrate.downgrade(engine, "0007")
    assert "role" not in _columns(engine, "staff_users") and "audit_log" not in _tables(database_url)
    engine.dispose()


def test_signoffs_come_with_0010_and_go_with_it(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0010")
    with engine.begin() as conn:  # a sign-off, as the clinical review page saves one
        conn.execute(
            text(
                "INSERT INTO signoffs (topic, lang, content_hash, clinician, signed_on, signed_by, at)"
                " VALUES ('symptoms', 'en', :digest, 'Dr. Meera Iyer', :day, 'meera', :at)"
            ),
            {"digest": "a" * 64, "day": date(2026, 11, 25), "at": datetime(2026, 11, 25, 9, 15)},
        )
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT topic, clinician, signed_on FROM signoffs")).one()
    assert (kept.topic, kept.clinician, str(kept.signed_on)) == ("symptoms", "Dr. Meera Iyer", "2026-11-25")
    migrate.downgrade(engine, "0008")
    assert "signoffs" not in _tables(database_url) and "audit_log" in _tables(database_url)
    engine.dispose()


def test_a_callers_place_comes_with_0006_and_known_callers_keep_their_choices(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0005")
    at = datetime(2026, 11, 24, 9, 15)
    with engine.begin() as conn:  # a caller known from before places were kept
        conn.execute(
            text(
                "INSERT INTO callers (caller_hash, language, rate, first_seen, last_seen)"
                " VALUES (:key, 'hi', 'slow', :at, :at)"
            ),
            {"key": "a" * 64, "at": at},
        )
    place = {"place_node", "place_part", "place_at"}
    assert not place & _columns(engine, "callers")

    migrate.upgrade(engine, "0006")
    assert migrate.current(engine) == "0006"
    assert place <= _columns(engine, "callers")
    assert "ix_callers_place_at" in {ix["name"] for ix in inspect(engine).get_indexes("callers")}
    # (The store of today reads callers with their consent, 0009's: this revision's rows are read raw.)
    with engine.begin() as conn:
        row = conn.execute(text("SELECT language, rate, place_node FROM callers")).one()
        assert tuple(row) == ("hi", "slow", None), "no place yet, the choices kept"
        conn.execute(
            text("UPDATE callers SET place_node = 'symptoms', place_part = 2, place_at = :at"), {"at": at}
        )

    migrate.downgrade(engine, "0005")
    assert migrate.current(engine) == "0005"
    assert not place & _columns(engine, "callers")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT caller_hash, language, rate FROM callers")).one() == (
            "a" * 64,
            "hi",
            "slow",
        )
    assert "ix_callers_place_at" not in {ix["name"] for ix in inspect(engine).get_indexes("callers")}
    migrate.upgrade(engine)
    assert place <= _columns(engine, "callers")
    engine.dispose()


def test_0009_forgets_callers_kept_without_consent_and_asks_them_as_new_callers(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before 0009 the line remembered every caller who chose a language, without asking: upgrading
    forgets them (logged with the count), keeps their calls' journeys, and the store then treats
    them as new callers; only a consent kept from then on remembers anyone."""
    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0007")
    at = datetime(2026, 11, 24, 9, 15)
    with engine.begin() as conn:
        for key, lang in (("a" * 64, "hi"), ("b" * 64, "en")):
            conn.execute(
                text(
                    "INSERT INTO callers (caller_hash, language, rate, first_seen, last_seen, place_node,"
                    " place_part, place_at) VALUES (:key, :lang, 'slow', :at, :at, 'symptoms', 2, :at)"
                ),
                {"key": key, "lang": lang, "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO calls (call_sid, caller_hash, started_at, status, language)"
                    " VALUES (:sid, :key, :at, 'completed', :lang)"
                ),
                {"sid": "CA" + key[:32], "key": key, "lang": lang, "at": at},
            )
    assert not {"consent_at", "consent_version"} & _columns(engine, "callers")

    migrate.upgrade(engine, "0009")
    assert migrate.current(engine) == "0009"
    assert {"consent_at", "consent_version"} <= _columns(engine, "callers")
    assert {"erase_requested_at", "erase_claimed_at"} <= _columns(engine, "recordings")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM callers")).scalar_one() == 0
        assert (
            conn.execute(text("SELECT count(*) FROM calls WHERE caller_hash IS NOT NULL")).scalar_one() == 2
        )
    assert "forgot 2 caller(s) remembered without consent" in caplog.text
    store = Store(engine)
    assert store.get_prefs("a" * 64) is None, "a new caller again: asked on their next call"
    assert store.save_prefs("a" * 64, language="hi") and store.get_prefs("a" * 64) is None
    assert store.save_consent("a" * 64, "n1", language="hi", rate="slow")
    assert store.get_prefs("a" * 64) == Prefs("hi", "slow", None)

    migrate.downgrade(engine, "0007")
    assert not {"consent_at", "consent_version"} & _columns(engine, "callers")
    migrate.upgrade(engine)
    engine.dispose()


def test_migrations_build_exactly_what_the_models_describe(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration (flask db revision -m ...): {diff}"


def _upgrade_in_child(url: str, start: Any) -> None:
    engine = make_engine(url)
    start.wait(30)
    migrate.upgrade(engine)
    engine.dispose()


@pytest.mark.slow
def test_several_workers_migrating_at_once_agree(database_url: str) -> None:
    # gunicorn starts its workers together, and each one migrates at start.
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS)
    workers = [ctx.Process(target=_upgrade_in_child, args=(database_url, start)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * WORKERS
    engine = make_engine(database_url)
    assert migrate.current(engine) == migrate.head()
    engine.dispose()
    assert _tables(database_url) >= TABLES


@pytest.mark.slow
def test_app_start_migrates_and_the_db_commands_work(database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url)
    store: Store = services.store(app)
    assert migrate.current(store.engine) == migrate.head()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0, result.output
    assert f"at {migrate.head()} (up to date)" in result.output

    result = runner.invoke(args=["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert "at base (empty)" in result.output
    assert _tables(database_url) & TABLES == set()
    result = runner.invoke(args=["db", "current"])
    assert f"at base (empty) (behind: head is {migrate.head()})" in result.output

    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"at {migrate.head()}" in result.output
    assert _tables(database_url) >= TABLES
    store.dispose()


@pytest.mark.slow
def test_migrate_on_start_can_be_turned_off(database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url, DB_MIGRATE_ON_START=False)
    assert migrate.current(services.store(app).engine) is None
    services.store(app).dispose()


@pytest.mark.slow
def test_app_starts_and_answers_calls_with_the_database_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="ivr.store")
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")
    assert "unavailable at start" in caplog.text
    status, root = SignedClient(app).post("/voice")
    assert status == 200 and root is not None and root.tag == "Response"
    result = app.test_cli_runner().invoke(args=["db", "current"])
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output and "Connection refused" in result.output


def test_database_url_forms() -> None:
    assert normalise_url("postgres://u:p@db:5432/ivr").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql://u@db/ivr").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@db/ivr").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u:p@db:5432/ivr").password == "p"
    assert normalise_url("sqlite:////var/lib/ivr/ivr.sqlite3").database == "/var/lib/ivr/ivr.sqlite3"
    for wrong in ("mysql://u@db/ivr", "postgresql+psycopg2://u@db/ivr", "not a url"):
        with pytest.raises(DatabaseUrlError):
            normalise_url(wrong)
    with pytest.raises(SystemExit, match="DATABASE_URL"):
        make_app(DATABASE_URL="mysql://u@db/ivr")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_works_from_threads(url: str) -> None:
    """A throwaway line (a demo, a quick try): it migrates, and every thread sees the same data."""
    store = Store.from_url(url)
    assert store.prepare()
    me = "0" * 64
    assert store.save_consent(me, "n1", language="hi", rate="normal")
    seen: list[Prefs | None] = []
    worker = threading.Thread(target=lambda: seen.append(store.get_prefs(me)))
    worker.start()
    worker.join(10)
    assert seen == [Prefs("hi", "normal")]
    store.dispose()


def test_default_database_is_sqlite_in_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    assert from_env()["DATABASE_URL"] is None
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/ivr.sqlite3"
    monkeypatch.setenv("DATABASE_URL", "postgres://db/ivr")
    assert from_env()["DATABASE_URL"] == "postgres://db/ivr"

    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(DATABASE_URL=None, DB_MIGRATE_ON_START=True)
    store = factory._store(app)
    assert store.url == default_url(tmp_path / "instance")
    assert migrate.current(store.engine) == migrate.head()
    assert (tmp_path / "instance" / "ivr.sqlite3").is_file()
    store.dispose()
