"""A worker's own rate-limit counts (ivr/counters.py): limits' counting, without its expiry thread."""

from __future__ import annotations

import random
import threading
import time

import pytest
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter, SlidingWindowCounterRateLimiter

from ivr.counters import Counters, WorkerMemoryStorage

pytestmark = pytest.mark.unit

# The strategies the line counts with: the webhooks' limits and the staff-login lockout.
STRATEGIES = (SlidingWindowCounterRateLimiter, FixedWindowRateLimiter)


def _timers_of(storage: MemoryStorage) -> list[threading.Thread]:
    """Running expiry timers that limits started for this storage."""
    return [
        t
        for t in threading.enumerate()
        if isinstance(t, threading.Timer) and getattr(t.function, "__self__", None) is storage
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_workers_counts_allow_and_refuse_as_limits_own_memory_storage(
    strategy: type[RateLimiter],
) -> None:
    """The same hits on limits' MemoryStorage and on ours: the same answer for every one, over
    keys under and over their allowance (5 in 2 s)."""
    limit = RateLimitItemPerSecond(5, 2)
    theirs, ours = strategy(MemoryStorage()), strategy(WorkerMemoryStorage())
    rng = random.Random(15)
    keys = [f"caller:{n}" for n in range(6)]
    answers_theirs, answers_ours = [], []
    for _ in range(120):
        key = rng.choice(keys)
        answers_theirs.append(theirs.hit(limit, key))
        answers_ours.append(ours.hit(limit, key))
    assert answers_ours == answers_theirs
    assert True in answers_ours and False in answers_ours  # both allowances and refusals were compared


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_counting_in_a_worker_starts_no_expiry_thread(strategy: type[RateLimiter]) -> None:
    """limits' own storage starts a 10 ms timer thread per count when none is running (a thread
    every few requests in a busy worker); the worker's counts start none."""
    counters = Counters(strategy)
    storage = counters.local.storage
    assert isinstance(storage, MemoryStorage)
    limit = RateLimitItemPerSecond(1000, 1)
    for n in range(50):
        key = f"ip:{n % 7}"
        assert counters.use(lambda limiter: limiter.hit(limit, key))  # noqa: B023 (used at once)
        assert _timers_of(storage) == []


def test_expired_counts_are_still_freed() -> None:
    """Without the thread, counts past their expiry still leave memory, at the next count after
    the sweep interval."""
    storage = WorkerMemoryStorage(sweep_every=0.0)
    storage.incr("old", expiry=0.05)
    time.sleep(0.2)
    storage.incr("new", expiry=60)
    assert "old" not in storage.storage and "old" not in storage.expirations
    assert storage.get("new") == 1


def test_the_sweep_waits_for_its_interval() -> None:
    """Between sweeps, an expired count stays in memory (reads ignore it: limits' get drops it)."""
    storage = WorkerMemoryStorage(sweep_every=3600.0)
    storage.incr("old", expiry=0.05)
    time.sleep(0.2)
    storage.incr("new", expiry=60)
    assert "old" in storage.expirations
    assert storage.get("old") == 0
