"""Rate-limit counters on the `limits` package: shared by every worker, or this worker's own.

A `Counters` is one `limits` strategy over two storages: a shared one (limits' `RedisStorage` with
REDIS_URL, or the staff login's database storage) that every gunicorn worker counts in, and
limits' `MemoryStorage` (without its expiry thread: `WorkerMemoryStorage`), this worker's own.
Work goes to the shared storage; while it fails, a `Breaker` sends it to the worker's own for a
few seconds at a time, and logs the outage once when it starts and once when it ends. With no
shared storage, everything is counted in the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import RateLimiter

from ivr.breaker import Breaker

T = TypeVar("T")

# A webhook waits at most this long on Redis (connect and each reply) before counting on its own.
REDIS_TIMEOUT_S = 0.25
# After a Redis failure, each worker counts on its own this long before it tries Redis again.
REDIS_RETRY_AFTER_S = 5.0
# How often a worker's own counts drop their expired keys (memory only: a read ignores them anyway).
# A sweep walks every key (a few ms for thousands of callers): once a second is a fraction of a
# percent of a worker, where limits' own timer walked them a hundred times a second.
SWEEP_EVERY_S = 1.0


class WorkerMemoryStorage(MemoryStorage):
    """limits' `MemoryStorage`, counting exactly as it does, without its expiry thread.

    limits starts a `threading.Timer` of 10 ms whenever it counts and none is running, and each
    timer walks every key: a busy worker starts a thread about every 10 ms and scans all its
    callers' counters in it (py-spy: about a quarter of a saturated worker's samples, bench/webhooks.py).
    A read never needed the sweep (`get` drops an expired count itself); it only frees memory, so
    here it runs inline, at most once per `sweep_every` seconds, in the request that counts next.

    Relies on limits' private hook `__schedule_expiry` (its name as Python mangles it), which every
    counting method calls; tests/test_counters.py checks that this storage counts as limits' own,
    starts no thread, and still frees expired keys, so a limits upgrade that moves the hook fails there.
    """

    def __init__(self, sweep_every: float = SWEEP_EVERY_S) -> None:
        super().__init__()
        # The one timer limits' __init__ starts: cancelled, it ends at once, having done nothing.
        self.timer.cancel()
        self.timer.join()
        self._sweep_every = sweep_every
        self._next_sweep = time.monotonic() + sweep_every
        self._sweep_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (limits' name, mangled)
        """limits' hook, before each count: sweep expired keys now if the last sweep is old enough."""
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + self._sweep_every
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweep_lock.release()


def redis_storage(url: str, prefix: str) -> RedisStorage:
    """limits' Redis storage on REDIS_URL, its keys under "`prefix`:"; short timeouts, no connection
    made until the first count (the app starts with Redis down)."""
    return RedisStorage(
        url,
        key_prefix=prefix.rstrip(":"),  # RedisStorage puts the ":" in
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


class Counters:
    """One strategy (`limits.strategies.*RateLimiter`) over a shared storage and this worker's own."""

    def __init__(
        self,
        strategy: Callable[[Storage], RateLimiter],
        shared: Storage | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        """`shared` None: counted in this worker only. Else `breaker` (required) decides when to do
        without it; the storage's own exceptions (`base_exceptions`) are what trip it."""
        if shared is not None and breaker is None:
            raise ValueError("a shared storage needs a breaker")
        self.local = strategy(WorkerMemoryStorage())
        self.shared = strategy(shared) if shared is not None else None
        self.breaker = breaker
        self._errors = shared.base_exceptions if shared is not None else ()

    @classmethod
    def for_redis(
        cls,
        strategy: Callable[[Storage], RateLimiter],
        url: str | None,
        *,
        prefix: str,
        what: str,
        log: logging.Logger,
        while_down: str,
    ) -> Counters:
        """Counters in Redis at `url` (this worker's own while it is away), or in this worker with no URL.

        `what` and `while_down` are the outage's log line: "`what` Redis unavailable (...); `while_down`".
        """
        if not url:
            return cls(strategy)
        breaker = Breaker(f"{what} Redis", retry_after=REDIS_RETRY_AFTER_S, log=log, while_down=while_down)
        return cls(strategy, redis_storage(url, prefix), breaker)

    def use(self, work: Callable[[RateLimiter], T]) -> T:
        """`work` on the shared limiter; on this worker's own while the shared one is away or failing."""
        shared, breaker = self.shared, self.breaker
        if shared is None or breaker is None:
            return work(self.local)
        return breaker.call(lambda: work(shared), lambda: work(self.local), self._errors)

    def everywhere(self, work: Callable[[RateLimiter], T]) -> tuple[T, T | None]:
        """`work` on this worker's own limiter, then on the shared one: (own result, shared result or
        None when there is none or it is away). For reads that must also see what this worker counted
        during an outage, and for forgetting a count in both places."""
        here = work(self.local)
        shared, breaker = self.shared, self.breaker
        if shared is None or breaker is None:
            return here, None
        there: T | None = breaker.call(lambda: work(shared), lambda: None, self._errors)
        return here, there
