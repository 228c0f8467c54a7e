"""A call's journey in the order it happened when two servers write it: each server writes its
events in batches, so a later step can reach the database, and get a lower id, before an earlier one.
Every read that needs the order (the journey, the latest event, a whisper taken after a transfer)
must follow when each step happened, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def two_servers(store: Store, database_url: str) -> Iterator[tuple[Store, Store]]:
    """The store of a server that batches its events (written only when flushed) and another's."""
    other = Store.from_url(database_url)
    store.batch_events(interval=3600)
    yield store, other
    other.dispose()


def _first_here_then_there(first: Store, then: Store, sid: str, steps: list[tuple[str, str]]) -> None:
    """All but the last step recorded by `first` (held in its batch), the last by `then`, written
    at once; `first`'s batch is written after."""
    assert first.call_started(sid, None, "en")
    for event, node in steps[:-1]:
        assert first.record_event(sid, event, node, 0)
    event, node = steps[-1]
    assert then.record_event(sid, event, node, 0)
    assert first.flush()


def test_a_journey_written_by_two_servers_reads_in_the_order_it_happened(
    two_servers: tuple[Store, Store],
) -> None:
    first, then = two_servers
    steps = [("start", "main"), ("option:1", "symptoms_causes"), ("option:2", "causes")]
    _first_here_then_there(first, then, "CA1", steps)
    for reader in (first, then):
        assert [(e.event, e.node) for e in reader.events_for("CA1")] == steps
        assert [(e.event, e.node) for e in reader.events_for_calls(["CA1"])["CA1"]] == steps


def test_a_whisper_taken_on_the_other_server_counts_after_the_transfer(
    two_servers: tuple[Store, Store],
) -> None:
    first, then = two_servers
    _first_here_then_there(
        first, then, "CA2", [("transfer:neurologist", "_specialist"), ("whisper:accepted", "main")]
    )
    assert then.transfer_taken("CA2", "whisper:accepted", ("transfer:", "operator")) is True


def test_the_latest_step_is_the_one_that_happened_last(two_servers: tuple[Store, Store]) -> None:
    first, then = two_servers
    # The caller was put in the queue, then (on the other server) left it for a call back.
    _first_here_then_there(
        first, then, "CA3", [("transfer:clinic", "_specialist"), ("callback:saved", "about")]
    )
    assert then.oldest_waiting("transfer:clinic") is None, "no longer waiting"
    assert then.call_ended("CA3", "completed", 60)
    assert then.drop_offs() == {"about": 1}
