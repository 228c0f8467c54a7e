"""Rate-limit counters on the `limits` package: shared by every worker, or this worker's own.

A `Counters` is one `limits` strategy over two storages: a shared one (limits' `RedisStorage` with
REDIS_URL, or the staff login's database storage) that every gunicorn worker counts in, and
limits' `MemoryStorage`, this worker's own. Work goes to the shared storage; while it fails, a
`Breaker` sends it to the worker's own for a few seconds at a time, and logs the outage once when
it starts and once when it ends. With no shared storage, everything is counted in the worker.
"""

from __future__ import annotations

import logging
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
        self.local = strategy(MemoryStorage())
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
