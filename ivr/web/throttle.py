"""Brute-force protection for the staff login: failed attempts counted per username and per client IP.

Each username and each client IP may fail so many times in a window that starts at its first
failure (by default 5 per username and 20 per IP in 15 minutes). Past that, the login answers 429
without checking the password until the window ends. The counts are shared by every gunicorn
worker: in Redis with REDIS_URL, else in the line's database. If that fails, each worker counts on
its own until it is back (and while it is back, the higher of the two counts holds).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from flask import current_app, request
from flask.sansio.app import App

from ivr.phone.limits import client_address
from ivr.store import Store

log = logging.getLogger("ivr.web.throttle")

REDIS_PREFIX = "ivr:login:"
REDIS_TIMEOUT_S = 0.25
REDIS_RETRY_AFTER_S = 5.0
MAX_LOCAL_KEYS = 10_000

Clock = Callable[[], float]
T = TypeVar("T")


class Failures(Protocol):
    """Where failed logins are counted: per key, in a window that starts at the key's first failure."""

    def count(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """Each key's failures in its window and the seconds left in it; (0, 0.0) for none."""

    def add(self, keys: Sequence[str]) -> list[int]:
        """Count one failure against each key; each key's failures now."""

    def clear(self, key: str) -> None:
        """Forget a key's failures."""


class LocalFailures:
    """Failures counted in this process (one gunicorn worker's share of the attempts)."""

    def __init__(
        self, window_s: float, clock: Clock = time.monotonic, max_keys: int = MAX_LOCAL_KEYS
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        # key -> (failures, end of its window). Every window is as long, so insertion order is also
        # the order the windows end in: the oldest key is always first.
        self._windows: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def count(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """Each key's failures in its window and the seconds left in it; (0, 0.0) for none."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            found = [self._windows.get(key, (0, now)) for key in keys]
        return [(n, end - now) if end > now else (0, 0.0) for n, end in found]

    def add(self, keys: Sequence[str]) -> list[int]:
        """Count one failure against each key; each key's failures now."""
        now = self.clock()
        counts = []
        with self._lock:
            self._expire(now)
            for key in keys:
                failures, end = self._windows.get(key, (0, now + self.window_s))
                if end <= now:  # only if the clock went backwards; start a fresh window at the end
                    del self._windows[key]
                    failures, end = 0, now + self.window_s
                self._windows[key] = (failures + 1, end)
                counts.append(failures + 1)
            while len(self._windows) > self.max_keys:
                # The oldest window is the nearest to its end anyway: forgetting it gives away least.
                del self._windows[next(iter(self._windows))]
        return counts

    def clear(self, key: str) -> None:
        """Forget a key's failures."""
        with self._lock:
            self._windows.pop(key, None)

    def __len__(self) -> int:
        return len(self._windows)

    def _expire(self, now: float) -> None:
        while self._windows:
            oldest = next(iter(self._windows))
            if self._windows[oldest][1] > now:
                return
            del self._windows[oldest]


class RedisFailures:
    """Failures counted in Redis, shared by every worker; this process's own count while Redis is away."""

    def __init__(
        self,
        url: str,
        window_s: float,
        *,
        prefix: str = REDIS_PREFIX,
        clock: Clock = time.monotonic,
        retry_after: float = REDIS_RETRY_AFTER_S,
    ) -> None:
        import redis

        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self.window_ms = max(1, round(window_s * 1000))
        self.prefix = prefix
        self.retry_after = retry_after
        self.fallback = LocalFailures(window_s, clock)
        self._down_until = 0.0
        self._down = False

    def count(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """Each key's failures in its window and the seconds left in it; (0, 0.0) for none."""
        return self._either(lambda: self._count(keys), lambda: self.fallback.count(keys))

    def add(self, keys: Sequence[str]) -> list[int]:
        """Count one failure against each key; each key's failures now."""
        return self._either(lambda: self._add(keys), lambda: self.fallback.add(keys))

    def clear(self, key: str) -> None:
        """Forget a key's failures."""
        self.fallback.clear(key)  # it may hold failures counted during an outage
        self._either(lambda: self.client.delete(self.prefix + key), lambda: 0)

    def _count(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        pipe = self.client.pipeline(transaction=True)
        for key in keys:
            pipe.get(self.prefix + key)
            pipe.pttl(self.prefix + key)
        replies = pipe.execute()
        return [
            (int(value), pttl / 1000) if value is not None and pttl > 0 else (0, 0.0)
            for value, pttl in zip(replies[::2], replies[1::2], strict=True)
        ]

    def _add(self, keys: Sequence[str]) -> list[int]:
        pipe = self.client.pipeline(transaction=True)
        for key in keys:
            # In one transaction: a count never exists without its expiry (a crash in between would
            # otherwise lock a name out for good).
            pipe.set(self.prefix + key, 0, px=self.window_ms, nx=True)
            pipe.incr(self.prefix + key)
        return [int(n) for n in pipe.execute()[1::2]]

    def _either(self, in_redis: Callable[[], T], here: Callable[[], T]) -> T:
        import redis

        if time.monotonic() < self._down_until:
            return here()
        try:
            result = in_redis()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self.retry_after
            if not self._down:
                self._down = True
                log.error(
                    "staff login throttle: Redis unavailable (%s: %s); "
                    "this worker counts failed logins on its own until it is back",
                    type(exc).__name__,
                    exc,
                )
            return here()
        if self._down:
            self._down = False
            log.info("staff login throttle: Redis is back; failed logins are counted there again")
        return result


class StoreFailures:
    """Failures counted in the line's database, shared by every worker; this process's own count
    while the database is away (the store logs each miss)."""

    def __init__(self, store: Store, window_s: float, *, clock: Clock = time.time) -> None:
        self.store = store
        self.window_s = window_s
        self.clock = clock  # wall-clock seconds: every worker, on every machine, reads the same
        self.fallback = LocalFailures(window_s, clock)

    def count(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """Each key's failures in its window and the seconds left in it; (0, 0.0) for none."""
        counted = self.store.login_failures(keys, self.clock())
        here = self.fallback.count(keys)  # failures counted while the database was away
        if counted is None:
            return here
        return [max(shared, mine) for shared, mine in zip(counted, here, strict=True)]

    def add(self, keys: Sequence[str]) -> list[int]:
        """Count one failure against each key; each key's failures now."""
        counts = self.store.add_login_failure(keys, self.clock(), self.window_s)
        return counts if counts is not None else self.fallback.add(keys)

    def clear(self, key: str) -> None:
        """Forget a key's failures."""
        self.fallback.clear(key)
        self.store.clear_login_failures(key)


class Reached(NamedTuple):
    """Which limits a failure has just reached: each is reported once per window."""

    user: bool
    ip: bool


@dataclass
class LoginThrottle:
    """The login limits and where failures are counted."""

    max_user: int
    max_ip: int
    window_s: int
    failures: Failures

    def locked_for(self, username: str, ip: str) -> float:
        """Seconds until this username from this client may try again; 0 if it may now."""
        counted = self.failures.count(["user:" + username, "ip:" + ip])
        limits = (self.max_user, self.max_ip)
        return max((left for (n, left), most in zip(counted, limits, strict=True) if n >= most), default=0.0)

    def failed(self, username: str, ip: str) -> Reached:
        """Count a failed login for the username and the client."""
        user, ip_count = self.failures.add(["user:" + username, "ip:" + ip])
        return Reached(user=user == self.max_user, ip=ip_count == self.max_ip)

    def succeeded(self, username: str) -> None:
        """Forget the username's failures (the client's stay: it may be someone else's)."""
        self.failures.clear("user:" + username)


def from_config(config: Mapping[str, Any], store: Store | None = None) -> LoginThrottle:
    """The throttle the settings ask for: counts in Redis, else in the database, else in-process."""
    window_s = int(config["LOGIN_WINDOW_S"])
    clock: Clock | None = config.get("LOGIN_CLOCK")
    failures: Failures
    if config.get("REDIS_URL"):
        prefix = str(config.get("LOGIN_REDIS_PREFIX") or REDIS_PREFIX)
        failures = RedisFailures(config["REDIS_URL"], window_s, prefix=prefix, clock=clock or time.monotonic)
    elif store is not None:
        failures = StoreFailures(store, window_s, clock=clock or time.time)
    else:
        failures = LocalFailures(window_s, clock or time.monotonic)
    return LoginThrottle(
        max_user=int(config["LOGIN_MAX_FAILURES_USER"]),
        max_ip=int(config["LOGIN_MAX_FAILURES_IP"]),
        window_s=window_s,
        failures=failures,
    )


def from_app(app: App, store: Store | None) -> LoginThrottle:
    """The app's login throttle; refuse to start on limits that are not positive."""
    throttle = from_config(app.config, store)
    for name, value in (
        ("IVR_LOGIN_MAX_FAILURES_USER", throttle.max_user),
        ("IVR_LOGIN_MAX_FAILURES_IP", throttle.max_ip),
        ("IVR_LOGIN_WINDOW_S", throttle.window_s),
    ):
        if value < 1:
            raise SystemExit(f"{name} must be at least 1, not {value}")
    return throttle


def client_ip() -> str:
    """The client's address, by the same rule as the webhook rate limits (trusted proxy hops)."""
    # From the settings, not the rate limits: with those turned off, the proxy is still there.
    hops = int(current_app.config.get("RATELIMIT_PROXY_HOPS", 0))
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), hops)


def wait_message(seconds: float) -> str:
    """What a locked-out user reads: how many whole minutes to wait."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many failed attempts. Try again in {minutes} minute{'' if minutes == 1 else 's'}."
