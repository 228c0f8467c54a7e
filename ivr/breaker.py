"""A circuit breaker for a service the line can do without for a while (Redis, the database).

After a failure the service is "down until T": for `retry_after` seconds nobody waits on it (each
caller does without it, at once); after T the next caller tries it again. The breaker logs once
when it opens (an ERROR, with the reason) and once when the service answers again (an INFO), never
once per request: an outage under load is two log lines, not thousands.

    breaker = Breaker("rate limits: Redis", retry_after=5.0, log=log,
                      while_down="this worker counts on its own")
    allowed = breaker.call(lambda: shared.hit(item), lambda: local.hit(item), redis.RedisError)

or, for a caller with its own way of failing over (the store reports each lost write itself):
`is_open()` / `remaining()` before trying, `trip(reason)` on an outage, `succeeded()` on an answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Clock = Callable[[], float]


class Breaker:
    """'Down until T, retry after N seconds' for one service, logging once per outage.

    Thread-safe: a gthread worker's threads share one breaker, and report an outage once between them.
    """

    def __init__(
        self,
        what: str,
        *,
        retry_after: float,
        log: logging.Logger,
        while_down: str = "",
        clock: Clock = time.monotonic,
    ) -> None:
        """`what` names the service in the log ("rate limits: Redis"); `retry_after` is in seconds
        (0: try again on every call, and still log once per outage); `while_down` says in the log
        what the line does meanwhile; `clock` is monotonic seconds."""
        if retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, not {retry_after}")
        self.what = what
        self.retry_after = retry_after
        self.log = log
        self.while_down = while_down
        self.clock = clock
        self._down_until = 0.0  # on self.clock; 0.0 when closed
        self._down = False  # between a failure and the next answer (what the log lines follow)
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """Whether the last attempt failed (the service has not answered since)."""
        return self._down

    def is_open(self) -> bool:
        """Whether callers should do without the service now, rather than try it."""
        return self._down_until > 0.0 and self.clock() < self._down_until

    def remaining(self) -> float:
        """Seconds until the service may be tried again; 0.0 when it may be tried now."""
        if self._down_until <= 0.0:  # the usual case, without reading the clock
            return 0.0
        return max(0.0, self._down_until - self.clock())

    def trip(self, reason: str) -> None:
        """The service failed: do without it for `retry_after` seconds (and say so, once per outage).

        `reason` goes into the log as given: the caller keeps secrets and numbers out of it.
        """
        with self._lock:
            self._down_until = self.clock() + self.retry_after
            if self._down:
                return
            self._down = True
        retry = f" (next try in {self.retry_after:g} s)" if self.retry_after else ""
        self.log.error(
            "%s unavailable (%s)%s%s",
            self.what,
            reason,
            f"; {self.while_down}" if self.while_down else "",
            retry,
        )

    def succeeded(self) -> None:
        """The service answered: use it again at once (and say so, once, if it had been down)."""
        if not self._down and self._down_until <= 0.0:  # the usual case: nothing to change, no lock
            return
        with self._lock:
            self._down_until = 0.0
            if not self._down:
                return
            self._down = False
        self.log.info("%s is back", self.what)

    def call(
        self,
        attempt: Callable[[], T],
        fallback: Callable[[], T],
        errors: type[BaseException] | tuple[type[BaseException], ...],
    ) -> T:
        """`attempt()`, or `fallback()` while open or when `attempt` raises one of `errors` (which trips
        the breaker, the exception's class and message as the reason). Other exceptions propagate."""
        if self.is_open():
            return fallback()
        try:
            result = attempt()
        except errors as exc:
            self.trip(f"{type(exc).__name__}: {exc}")
            return fallback()
        self.succeeded()
        return result
