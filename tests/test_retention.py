"""Retention: `flask data purge` deletes each kind of personal data once past its period, and only
then. The clock is moved (`now=`, `--now`): kept one second before the boundary, gone one after."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from ivr import services
from ivr.phone.erasure import purge
from ivr.store import KEEP_PLACE, Store
from ivr.store.models import Callback, KnownCaller, Recording, SmsOutbox
from ivr.store.retention import Periods
from tests.support.app import make_app
from tests.support.personal import held, seed_caller
from tests.support.twilio_fake import FakeTwilioHttp

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
ME = "+919812345678"


def when(store: Store, column: Any, *where: Any) -> datetime:
    """A time the store wrote (the earliest, when several rows match), as it reads it back."""
    with store.engine.connect() as conn:
        found = [t for t in conn.execute(select(column).where(*where)).scalars() if t is not None]
    assert found, f"no {column} yet"
    earliest: datetime = min(found)
    return earliest


def purged_at(store: Store, now: datetime) -> dict[str, int]:
    done = store.purge_expired(now, Periods())
    assert done is not None
    return done


def test_each_kind_is_kept_until_its_period_ends_and_gone_one_second_after(store: Store) -> None:
    me = seed_caller(store, ME, AT)
    with store.engine.begin() as conn:  # the open call back was asked for five days before
        conn.execute(
            update(Callback).where(Callback.done_at.is_(None)).values(requested_at=AT - timedelta(days=5))
        )
    default = Periods()
    assert (default.callback, default.recording, default.prefs, default.text) == (
        timedelta(days=30),
        timedelta(days=90),
        timedelta(days=365),
        timedelta(days=7),
    )
    # A sent text: 7 days after it was sent. (The queued one stays: it is still to be sent.)
    sent = when(store, SmsOutbox.sent_at)
    assert purged_at(store, sent + default.text - SECOND)["texts"] == 0
    assert purged_at(store, sent + default.text + SECOND)["texts"] == 1
    assert held(store, me)["texts"] == 1, "the queued text is kept: it has not gone yet"
    # A call back done: 30 days after it was done; one never done: 30 days after it was asked for.
    done = when(store, Callback.done_at)
    asked = when(store, Callback.requested_at, Callback.done_at.is_(None))
    first, second = sorted([done, asked])
    assert purged_at(store, first + default.callback - SECOND)["callbacks"] == 0
    assert purged_at(store, first + default.callback + SECOND)["callbacks"] == 1
    assert purged_at(store, second + default.callback - SECOND)["callbacks"] == 0
    assert purged_at(store, second + default.callback + SECOND)["callbacks"] == 1
    assert held(store, me)["callbacks"] == 0
    # A recorded question: 90 days after it was recorded (marked: the audio goes at Twilio first).
    made = when(store, Recording.created_at)
    assert purged_at(store, made + default.recording - SECOND)["recordings_marked"] == 0
    assert purged_at(store, made + default.recording + SECOND)["recordings_marked"] == 1
    assert held(store, me)["recordings_listed"] == 0, "no longer listed for staff"
    # A remembered caller: a year after their last call.
    seen = when(store, KnownCaller.last_seen)
    assert purged_at(store, seen + default.prefs - SECOND)["callers"] == 0
    assert purged_at(store, seen + default.prefs + SECOND)["callers"] == 1
    assert held(store, me)["callers"] == 0
    assert purged_at(store, seen + 10 * default.prefs) == {
        "callbacks": 0,
        "recordings_marked": 0,
        "callers": 0,
        "texts": 0,
    }, "idempotent: a second run finds nothing"


def test_a_failed_text_goes_7_days_after_it_was_made(store: Store) -> None:
    queued = store.queue_sms("CA" + "5" * 32, ME, "Symptoms…")
    assert queued is not None and store.sms_failed(queued, "21614 not a mobile")
    made = when(store, SmsOutbox.created_at, SmsOutbox.id == queued)
    assert purged_at(store, made + timedelta(days=7) - SECOND)["texts"] == 0
    assert purged_at(store, made + timedelta(days=7) + SECOND)["texts"] == 1


@pytest.fixture
def fake() -> FakeTwilioHttp:
    return FakeTwilioHttp()


@pytest.fixture
def app(tmp_path: Path, fake: FakeTwilioHttp) -> Iterator[Flask]:
    made = make_app(
        DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
        TWILIO_HTTP_CLIENT=fake,
        RETAIN_RECORDING_DAYS=10,
    )
    yield made
    services.store(made).dispose()


def test_flask_data_purge_enforces_every_period_in_one_run_with_the_settings(
    app: Flask, fake: FakeTwilioHttp
) -> None:
    store = services.store(app)
    me = seed_caller(store, ME, AT)
    made = when(store, Recording.created_at)
    runner = app.test_cli_runner()
    early = runner.invoke(args=["data", "purge", "--now", (made + timedelta(days=10) - SECOND).isoformat()])
    assert early.exit_code == 0, early.output
    assert "recordings_marked 0" in early.output and "texts 1" in early.output, "the sent text's 7 days"
    late = (made + timedelta(days=400)).isoformat()
    result = runner.invoke(args=["data", "purge", "--now", late])
    assert result.exit_code == 0, result.output
    for counted in (
        "callbacks 2",
        "callers 1",
        "texts 0",
        "recordings_marked 1",
        "deleted 1",
        "recordings_pending 0",
    ):
        assert counted in result.output, (counted, result.output)
    assert [s.uri.rsplit("/", 1)[-1] for s in fake.sent if s.method.upper() == "DELETE"] == [
        f"{me.recording_sid}.json"
    ]
    left = held(store, me)
    assert (left["callbacks"], left["callers"], left["recordings"], left["texts"]) == (0, 0, 0, 1)
    again = runner.invoke(args=["data", "purge", "--now", late])
    assert again.exit_code == 0 and "callbacks 0" in again.output and "recordings_marked 0" in again.output
    assert len([s for s in fake.sent if s.method.upper() == "DELETE"]) == 1


def test_flask_data_purge_refuses_a_bad_time_and_says_when_the_database_is_down(app: Flask) -> None:
    bad = app.test_cli_runner().invoke(args=["data", "purge", "--now", "next tuesday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
    down = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")
    result = down.test_cli_runner().invoke(args=["data", "purge"])
    assert result.exit_code == 1 and "could not be reached" in result.output


def test_two_purges_at_once_delete_a_recording_at_twilio_once(tmp_path: Path) -> None:
    fake = FakeTwilioHttp(delay_s=0.2)  # Twilio takes a while: the two purges overlap
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}", TWILIO_HTTP_CLIENT=fake)
    store = services.store(app)
    me = seed_caller(store, ME, AT)
    made = when(store, Recording.created_at)
    late = made + timedelta(days=91)
    results: list[dict[str, int]] = []

    def purge_once() -> None:
        with app.app_context():
            results.append(dict(purge(late)))

    threads = [threading.Thread(target=purge_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2
    assert sum(r.get("deleted", 0) for r in results) == 1
    assert [s.uri.rsplit("/", 1)[-1] for s in fake.sent if s.method.upper() == "DELETE"] == [
        f"{me.recording_sid}.json"
    ]
    assert held(store, me)["recordings"] == 0
    store.dispose()


def test_flask_data_purge_also_runs_the_lines_own_purges_a_place_after_30_days(app: Flask) -> None:
    store = services.store(app)
    me = seed_caller(store, ME, AT)
    placed = when(store, KnownCaller.place_at)
    runner = app.test_cli_runner()
    before = runner.invoke(args=["data", "purge", "--now", (placed + KEEP_PLACE - SECOND).isoformat()])
    assert before.exit_code == 0 and "places 0" in before.output and "callers 0" in before.output
    after = runner.invoke(args=["data", "purge", "--now", (placed + KEEP_PLACE + SECOND).isoformat()])
    assert after.exit_code == 0 and "places 1" in after.output, after.output
    prefs = store.get_prefs(me.key, now=placed + KEEP_PLACE + SECOND)
    assert prefs is not None and prefs.place is None and prefs.language == "hi", "the place only"
