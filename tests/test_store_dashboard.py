"""The Store's staff-dashboard reads and writes, on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from ivr.privacy import caller_hash
from ivr.store import Counts, Store
from ivr.store.models import Call

pytestmark = pytest.mark.integration

SALT = "test-salt"
ME = caller_hash("+15005550006", SALT)


def walk(store: Store, sid: str, steps: list[tuple[str, int]], *, ended: bool) -> None:
    assert store.call_started(sid, ME, "en")
    for node, part in steps:
        assert store.record_event(sid, "step", node, part)
    if ended:
        assert store.call_ended(sid, "completed", 60)


def test_staff_users_round_trip(store: Store) -> None:
    assert store.staff_user("asha") is None
    assert store.add_staff_user("asha", "hash-1") is True
    assert store.add_staff_user("asha", "hash-2") is False, "a taken name is refused, not overwritten"
    user = store.staff_user("asha")
    assert user is not None and user.username == "asha" and user.password_hash == "hash-1"
    assert user.created_at.tzinfo is not None
    assert store.set_staff_password("asha", "hash-3") is True
    assert store.set_staff_password("nobody", "hash-3") is False
    assert user.session_version == 0
    assert store.staff_user("asha") == user.__class__(user.id, "asha", "hash-3", user.created_at, 1)
    assert store.end_staff_sessions("asha") is True and store.end_staff_sessions("nobody") is False
    changed = store.staff_user("asha")
    assert changed is not None and changed.session_version == 2
    assert store.add_staff_user("bea", "hash-4")
    assert store.staff_usernames() == ["asha", "bea"]


def test_live_calls_are_recent_calls_without_an_end(store: Store) -> None:
    walk(store, "CAold", [("main", 0)], ended=False)
    walk(store, "CAlive", [("main", 0)], ended=False)
    walk(store, "CAdone", [("main", 0)], ended=True)
    with store.engine.begin() as conn:
        long_ago = datetime.now(UTC) - timedelta(hours=5)
        conn.execute(update(Call).where(Call.call_sid == "CAold").values(started_at=long_ago))
    assert [c.call_sid for c in store.live_calls()] == ["CAlive"]
    assert [c.call_sid for c in store.ended_calls()] == ["CAdone"]
    assert store.counts() == Counts(live_calls=1, open_callbacks=0, unreviewed_recordings=0)


def test_events_for_several_calls_at_once(store: Store) -> None:
    walk(store, "CA1", [("main", 0), ("symptoms", 0), ("symptoms", 1)], ended=True)
    walk(store, "CA2", [("main", 0)], ended=False)
    found = store.events_for_calls(["CA1", "CA2", "CAnone", "CA1"])
    assert list(found) == ["CA1", "CA2", "CAnone"]
    assert [(e.node, e.part) for e in found["CA1"]] == [("main", 0), ("symptoms", 0), ("symptoms", 1)]
    assert [e.node for e in found["CA2"]] == ["main"] and found["CAnone"] == []
    assert store.events_for_calls([]) == {}


def test_callbacks_and_recordings_leave_their_queues_once(store: Store) -> None:
    first = store.add_callback("CA1", ME, "+447700900123")
    second = store.add_callback("CA2", None, "+447700900124")
    rec = store.add_recording("CA1", "https://api.twilio.com/rec/RE1", duration_seconds=12)
    assert first and second and rec
    assert store.counts() == Counts(live_calls=0, open_callbacks=2, unreviewed_recordings=1)
    assert store.callback_done(first, "asha")
    assert [c.id for c in store.callbacks()] == [second]
    assert [c.id for c in store.callbacks(open_only=False)] == [first, second]
    assert store.recording_reviewed(rec, "asha") is True
    assert store.recording_reviewed(rec, "bea") is False
    assert store.recording_reviewed(9999, "bea") is False
    assert store.recordings() == []
    (row,) = store.recordings(unreviewed_only=False)
    assert row.reviewed_at is not None
    assert store.counts() == Counts(live_calls=0, open_callbacks=1, unreviewed_recordings=0)


def test_listening_counts_each_call_once_per_node_and_part(store: Store) -> None:
    walk(store, "CA1", [("main", 0), ("symptoms", 0), ("symptoms", 0), ("symptoms", 1)], ended=True)
    walk(store, "CA2", [("main", 0), ("symptoms", 0), ("main", 0), ("causes", 0)], ended=True)
    listening = store.listening()
    assert listening.available
    assert listening.calls_at_node == {"main": 2, "symptoms": 2, "causes": 1}
    assert listening.calls_at_part == {
        ("main", 0): 2,
        ("symptoms", 0): 2,
        ("symptoms", 1): 1,
        ("causes", 0): 1,
    }


def test_drop_offs_count_where_ended_calls_were_last(store: Store) -> None:
    walk(store, "CA1", [("main", 0), ("symptoms", 0), ("symptoms", 1)], ended=True)
    walk(store, "CA2", [("main", 0), ("symptoms", 2), ("main", 0)], ended=True)
    walk(store, "CA3", [("main", 0), ("symptoms", 0)], ended=True)
    walk(store, "CA4", [("main", 0), ("causes", 0)], ended=False)  # still in the call
    assert store.call_ended("CA5", "failed", 0)  # no journey: nowhere to count it
    assert store.drop_offs() == {"symptoms": 2, "main": 1}


def test_dashboard_reads_give_safe_defaults_when_the_database_is_down() -> None:
    down = Store.from_url("postgresql://postgres@127.0.0.1:1/ivr", retry_after=0)
    assert down.counts() == Counts(0, 0, 0, available=False)
    assert down.listening().available is False
    assert down.staff_user("asha") is None
    assert down.add_staff_user("asha", "hash") is False
    assert down.live_calls() == [] and down.drop_offs() == {} and down.events_for_calls(["CA1"]) == {}
    down.dispose()
