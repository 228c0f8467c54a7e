"""Brute-force protection for the staff login: failed attempts counted per username and per client IP.

Each username and each client IP may fail so many times in a window that starts at its first
failure (by default 5 per username and 20 per IP in 15 minutes): limits' fixed window
(`FixedWindowRateLimiter`). Past that, the login answers 429 without checking the password until
the window ends. Each login is counted as failed before its password is checked, and given back
when the password is right, so that logins arriving together cannot all be checked before the first
failure is counted. The counts are shared by every gunicorn worker: in Redis with REDIS_URL (limits'
`RedisStorage`), else in the line's database (`StoreStorage` below, a limits storage on the Store).
If that fails, each worker counts on its own (limits' `MemoryStorage`) until it is back, and what
it counted meanwhile is added to the shared count until its window ends (ivr/counters.py,
ivr/breaker.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from flask.sansio.app import App
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from ivr.breaker import Breaker
from ivr.counters import Counters
from ivr.store import Store

log = logging.getLogger("ivr.web.throttle")

REDIS_PREFIX = "ivr:login:"

Clock = Callable[[], float]


class StoreUnavailableError(Exception):
    """The Store could not read or write failed logins (it has logged why)."""


class StoreStorage(Storage):
    """A `limits` storage for the fixed window on the line's database (table login_failures), so that
    every worker shares the count without Redis. Only what the fixed window needs: a count per key,
    its window from the key's first failure, forgetting a key. The Store never raises: when it
    answers None (database away, already logged as a lost write or failed read), this raises
    StoreUnavailableError, the storage's `base_exceptions`, for the breaker to fall back on."""

    STORAGE_SCHEME = None  # built on the app's Store, never from a URI

    def __init__(self, store: Store, clock: Clock = time.time) -> None:
        """`clock`: seconds since the epoch, which every worker on every machine reads alike."""
        super().__init__()
        self.store = store
        self.clock = clock

    @property
    def base_exceptions(self) -> type[Exception]:
        """What a failure of this storage raises."""
        return StoreUnavailableError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` failures against `key` (a new window of `expiry` seconds if it has none open);
        the count now. A negative amount gives failures back, in an open window only, never below 0."""
        for _ in range(-amount):
            if not self.store.release_login_failure(key, self.clock()):
                raise StoreUnavailableError("release_login_failure")
        counts: list[int] | None = None
        for _ in range(amount):
            counts = self.store.add_login_failure([key], self.clock(), expiry)
            if counts is None:
                raise StoreUnavailableError("add_login_failure")
        return counts[0] if counts else self.get(key)

    def get(self, key: str) -> int:
        """The key's failures in its open window (0 for none)."""
        return self._window(key)[0]

    def get_expiry(self, key: str) -> float:
        """When the key's window ends, in seconds since the epoch (time.time(), as limits reads it;
        now for a key with no open window)."""
        return time.time() + self._window(key)[1]

    def clear(self, key: str) -> None:
        """Forget the key's failures."""
        if not self.store.clear_login_failures(key):
            raise StoreUnavailableError("clear_login_failures")

    def check(self) -> bool:
        """Whether the database answers."""
        return self.store.ping() is None

    def reset(self) -> int | None:
        """Not offered: forgetting every count at once is not something the line does."""
        raise NotImplementedError("StoreStorage keeps no list of its keys to reset")

    def _window(self, key: str) -> tuple[int, float]:
        found = self.store.login_failures([key], self.clock())
        if found is None:
            raise StoreUnavailableError("login_failures")
        return found[0]


class Reached(NamedTuple):
    """Which limits a failure has just reached: each is reported once per window."""

    user: bool
    ip: bool


class Attempt(NamedTuple):
    """A login counted in advance: `locked_for` seconds to wait (0.0: check the password now), and the
    limits it reached."""

    locked_for: float
    reached: Reached


@dataclass
class LoginThrottle:
    """The login limits and where failures are counted (`shared`: "Redis", "the database", or None
    when each worker counts on its own)."""

    max_user: int
    max_ip: int
    window_s: int
    counters: Counters
    shared: str | None = None

    def __post_init__(self) -> None:
        self._user = RateLimitItemPerSecond(self.max_user, self.window_s, namespace="login")
        self._ip = RateLimitItemPerSecond(self.max_ip, self.window_s, namespace="login")

    def locked_for(self, username: str, ip: str) -> float:
        """Seconds until this username from this client may try again; 0.0 if it may now."""
        limits = self._limits(username, ip)
        found = self._windows(limits)
        return max(_wait(windows, item.amount) for (item, _), windows in zip(limits, found, strict=True))

    def reserve(self, username: str, ip: str) -> Attempt:
        """Count this login as failed for the username and the client BEFORE its password is checked,
        and say whether it may be checked.

        Each count is one atomic increment in the shared storage (Redis INCRBY in a Lua script, the
        database's upsert), so however many logins arrive at once, from however many workers, at most
        the limit of them are checked; the rest are refused (`locked_for` > 0) unchecked. One whose
        password is right gives its count back (`succeeded`). `reached`: the limits this attempt's
        count reached, to report if the password is wrong (once a window: the count that is exactly
        the limit). A refused login counts for nothing: while locked, nothing is counted, and one
        refused by its own count gives it back."""
        locked_for = self.locked_for(username, ip)
        if locked_for > 0:
            return Attempt(locked_for, Reached(user=False, ip=False))
        limits = self._limits(username, ip)
        within = [self.counters.use(partial(_hit, item=item, key=key)) for item, key in limits]
        found = self._windows(limits)
        # This worker's own counts from an outage add to the shared one's (each capped at the limit).
        totals = [sum(n for n, _ in windows) for windows in found]
        if all(within) and all(total <= item.amount for total, (item, _) in zip(totals, limits, strict=True)):
            user, ip_reached = (total == item.amount for total, (item, _) in zip(totals, limits, strict=True))
            return Attempt(0.0, Reached(user=user, ip=ip_reached))
        for item, key in limits:
            self.counters.use(partial(_release, item=item, key=key))
        waits = [_wait(windows, item.amount) for (item, _), windows in zip(limits, found, strict=True)]
        # A window that ended this very moment says 0 s: still refused, so at least a second.
        return Attempt(max(1.0, *waits), Reached(user=False, ip=False))

    def succeeded(self, username: str, ip: str | None = None) -> bool:
        """Forget the username's failures, and give the client back the count `reserve` took (its
        other failures stay: it may be someone else's). False when the shared count could not be
        reached (this worker's own is forgotten all the same)."""

        def forget(limiter: RateLimiter) -> bool:
            limiter.clear(self._user, "user:" + username)
            return True

        _, shared = self.counters.everywhere(forget)
        if ip is not None:
            self.counters.use(partial(_release, item=self._ip, key="ip:" + ip))
        return self.shared is None or shared is True

    def _limits(self, username: str, ip: str) -> list[tuple[RateLimitItem, str]]:
        return [(self._user, "user:" + username), (self._ip, "ip:" + ip)]

    def _windows(self, limits: Sequence[tuple[RateLimitItem, str]]) -> list[list[Window]]:
        """Each limit's open windows: this worker's own, then the shared one's when it answers. Both
        count: failures this worker counted while the shared storage was away still hold after."""

        def read(limiter: RateLimiter) -> list[Window]:
            return [_window(limiter, item, key) for item, key in limits]

        here, shared = self.counters.everywhere(read)
        if shared is None:
            return [[mine] for mine in here]
        return [[mine, theirs] for mine, theirs in zip(here, shared, strict=True)]


# Failures counted in one place (up to the limit) and the seconds left in their window.
Window = tuple[int, float]


def _hit(limiter: RateLimiter, *, item: RateLimitItem, key: str) -> bool:
    """Count one failure; False if the key was already past the limit in this place."""
    return limiter.hit(item, key)


def _release(limiter: RateLimiter, *, item: RateLimitItem, key: str) -> bool:
    """Give back one count taken in advance, while its window is open (a window that ended meanwhile
    has nothing to give back: the new one must not start below 0)."""
    if _window(limiter, item, key)[0] > 0:
        limiter.hit(item, key, cost=-1)
    return True


def _window(limiter: RateLimiter, item: RateLimitItem, key: str) -> Window:
    stats = limiter.get_window_stats(item, key)
    failures = item.amount - stats.remaining
    return (failures, max(0.0, stats.reset_time - time.time())) if failures > 0 else (0, 0.0)


def _wait(windows: Sequence[Window], most: int) -> float:
    """Seconds until fewer than `most` failures are left in the open `windows`; 0.0 if there are now."""
    total = sum(failures for failures, _ in windows)
    waited = 0.0
    for failures, left in sorted(windows, key=lambda window: window[1]):  # the first to end first
        if total < most:
            break
        waited, total = left, total - failures
    return waited


def from_config(config: Mapping[str, Any], store: Store | None = None) -> LoginThrottle:
    """The throttle the settings ask for: counts in Redis, else in the database, else in-process."""
    window_s = int(config["LOGIN_WINDOW_S"])
    while_down = "this worker counts failed logins on its own until it is back"
    shared: str | None = None
    if config.get("REDIS_URL"):
        shared = "Redis"
        counters = Counters.for_redis(
            FixedWindowRateLimiter,
            config["REDIS_URL"],
            prefix=str(config.get("LOGIN_REDIS_PREFIX") or REDIS_PREFIX),
            what="staff login throttle:",
            log=log,
            while_down=while_down,
        )
    elif store is not None:
        shared = "the database"
        clock: Clock = config.get("LOGIN_CLOCK") or time.time
        # No wait between tries: the Store has its own outage memory and reports each miss itself.
        breaker = Breaker("staff login throttle: the database", retry_after=0, log=log, while_down=while_down)
        counters = Counters(FixedWindowRateLimiter, StoreStorage(store, clock), breaker)
    else:
        counters = Counters(FixedWindowRateLimiter)
    return LoginThrottle(
        max_user=int(config["LOGIN_MAX_FAILURES_USER"]),
        max_ip=int(config["LOGIN_MAX_FAILURES_IP"]),
        window_s=window_s,
        counters=counters,
        shared=shared,
    )


def from_app(app: App, store: Store | None) -> LoginThrottle:
    """The app's login throttle (its limits were checked with the settings: each at least 1)."""
    return from_config(app.config, store)


def wait_message(seconds: float) -> str:
    """What a locked-out user reads: how many whole minutes to wait."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many failed attempts. Try again in {minutes} minute{'' if minutes == 1 else 's'}."
