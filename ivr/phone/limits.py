"""Rate limits on the webhooks: token buckets per client IP and per caller, in-process or in Redis.

Two checks, each a token bucket (a burst, refilled at a steady rate):
- per client IP, before the signature check, so that a flood of forged requests is shed cheaply;
- per caller (the salted hash of From; per call when the number is withheld), after the signature
  check, so that nobody can use up a real caller's allowance with forged requests.
A refused caller hears that the line is busy (HTTP 200 TwiML: Twilio would play an application
error for anything else), then the call ends. With REDIS_URL the buckets live in Redis and hold
across gunicorn workers; if Redis fails, each worker keeps its own buckets until it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Request, Response, request

from ivr.engine.codec import PARAM
from ivr.phone.callers import Caller
from ivr.phone.runtime import Runtime

log = logging.getLogger("ivr.ratelimit")

# Twilio's own callbacks, not caller actions: never refused (a lost status callback is lost data).
EXEMPT_ENDPOINTS = frozenset({"voice.status"})
REDIS_PREFIX = "ivr:rl:"
REDIS_TIMEOUT_S = 0.25
REDIS_RETRY_AFTER_S = 5.0
MAX_LOCAL_KEYS = 50_000

# KEYS: the buckets; ARGV: rate (tokens/s) and burst of each. Refill all, take one token from each
# when every bucket has one; return 0, or the 1-based index of the first bucket that was empty.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels = {}
local refused = 0
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level, ts = tonumber(v[1]), tonumber(v[2])
  if level == nil or ts == nil then
    level = burst
  else
    level = math.min(burst, level + math.max(0, now - ts) * rate)
  end
  levels[i] = level
  if refused == 0 and level < 1 then refused = i end
end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local level = levels[i]
  if refused == 0 then level = level - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - level) / rate * 1000) + 1000)
end
return refused
"""


@dataclass(frozen=True)
class Limit:
    """A token bucket: up to `burst` requests at once, refilled at `per_minute`."""

    burst: int
    per_minute: float

    @property
    def per_second(self) -> float:
        """Refill rate in tokens per second."""
        return self.per_minute / 60.0


class Buckets(Protocol):
    """Where the buckets are kept."""

    def take(self, buckets: Sequence[tuple[str, Limit]]) -> int:
        """Take a token from every bucket if each has one: -1; else the index of the first empty one."""


class LocalBuckets:
    """Buckets in this process (one gunicorn worker's share of the traffic)."""

    def __init__(self, max_keys: int = MAX_LOCAL_KEYS) -> None:
        self.max_keys = max_keys
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, buckets: Sequence[tuple[str, Limit]]) -> int:
        """Take a token from every bucket if each has one: -1; else the index of the first empty one."""
        now = time.monotonic()
        with self._lock:
            levels = [self._level(key, limit, now) for key, limit in buckets]
            refused = next((i for i, level in enumerate(levels) if level < 1), -1)
            for (key, _limit), level in zip(buckets, levels, strict=True):
                self._levels[key] = (level - 1 if refused < 0 else level, now)
            if len(self._levels) > self.max_keys:
                self._prune(now, {key: limit for key, limit in buckets})
        return refused

    def _level(self, key: str, limit: Limit, now: float) -> float:
        tokens, when = self._levels.get(key, (float(limit.burst), now))
        return min(float(limit.burst), tokens + (now - when) * limit.per_second)

    def _prune(self, now: float, limits: Mapping[str, Limit]) -> None:
        # Oldest first: the buckets untouched longest are the fullest, and cost nothing to forget.
        by_age = sorted(self._levels.items(), key=lambda item: item[1][1])
        for key, _ in by_age[: len(by_age) // 2]:
            if key not in limits:
                del self._levels[key]


class RedisBuckets:
    """Buckets in Redis, shared by every worker; this process's own buckets while Redis is away."""

    def __init__(self, url: str, *, retry_after: float = REDIS_RETRY_AFTER_S) -> None:
        import redis

        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self.script = self.client.register_script(_LUA)
        self.retry_after = retry_after
        self.fallback = LocalBuckets()
        self._down_until = 0.0

    def take(self, buckets: Sequence[tuple[str, Limit]]) -> int:
        """Take a token from every bucket if each has one: -1; else the index of the first empty one."""
        import redis

        if time.monotonic() < self._down_until:
            return self.fallback.take(buckets)
        args: list[float] = []
        for _key, limit in buckets:
            args += [limit.per_second, limit.burst]
        try:
            refused = int(self.script(keys=[REDIS_PREFIX + key for key, _ in buckets], args=args))
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self.retry_after
            log.error(
                "rate limits: Redis unavailable (%s: %s); this worker counts on its own for %.0f s",
                type(exc).__name__,
                exc,
                self.retry_after,
            )
            return self.fallback.take(buckets)
        return refused - 1


@dataclass
class RateLimits:
    """The line's limits and where their buckets are kept."""

    caller: Limit
    ip: Limit
    buckets: Buckets
    proxy_hops: int = 0

    def client_ip(self, remote_addr: str | None, forwarded_for: str | None) -> str:
        """The client's address: the peer's, or the one `proxy_hops` trusted proxies put in front."""
        return client_address(remote_addr, forwarded_for, self.proxy_hops)


def client_address(remote_addr: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The client's address: the peer's, or the one `proxy_hops` trusted proxies put in front."""
    if proxy_hops and forwarded_for:
        hops = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if len(hops) >= proxy_hops:
            return hops[-proxy_hops]
    return remote_addr or "unknown"


def from_config(config: Mapping[str, Any]) -> RateLimits | None:
    """The limits the settings ask for; None when rate limiting is off."""
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    buckets: Buckets = RedisBuckets(config["REDIS_URL"]) if config.get("REDIS_URL") else LocalBuckets()
    return RateLimits(
        caller=Limit(int(config["RATELIMIT_CALLER_BURST"]), float(config["RATELIMIT_CALLER_PER_MINUTE"])),
        ip=Limit(int(config["RATELIMIT_IP_BURST"]), float(config["RATELIMIT_IP_PER_MINUTE"])),
        buckets=buckets,
        proxy_hops=int(config.get("RATELIMIT_PROXY_HOPS", 0)),
    )


def from_app(app: Flask) -> RateLimits | None:
    """The app's limits (None when off, and said so); refuse to start on limits that are not positive."""
    limits = from_config(app.config)
    if limits is None:
        log.warning("rate limiting is off (IVR_RATELIMIT=0)")
        return None
    for limit in (limits.caller, limits.ip):
        if limit.burst < 1 or limit.per_minute <= 0:
            raise SystemExit(f"rate limits must be positive, not burst={limit.burst}/{limit.per_minute}/min")
    return limits


def limit_ip(request: Request, limits: RateLimits, runtime: Runtime) -> Response | None:
    """Before the signature check: refuse a client IP over its limit."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    ip = limits.client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))
    if limits.buckets.take([("ip:" + ip, limits.ip)]) < 0:
        return None
    log.warning("rate limited: client %s is over %s on %s", ip, _describe(limits.ip), request.path)
    return busy_reply(runtime)


def limit_caller(request: Request, limits: RateLimits, who: Caller, runtime: Runtime) -> Response | None:
    """After the signature check: refuse a caller over their limit, with a busy message."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    call_sid = request.form.get("CallSid", "")[:64]
    if who.key:
        key = "caller:" + who.key
    elif call_sid:
        key = "call:" + call_sid  # a withheld number: one allowance per call, not one for them all
    else:
        return None
    if limits.buckets.take([(key, limits.caller)]) < 0:
        return None
    log.warning(
        "rate limited: caller %s is over %s on %s (call %s)",
        who.ref,
        _describe(limits.caller),
        request.path,
        call_sid or "-",
    )
    return busy_reply(runtime)


def _describe(limit: Limit) -> str:
    return f"{limit.per_minute:g}/min (burst {limit.burst})"


def busy_reply(runtime: Runtime) -> Response:
    """TwiML: the line is busy, try again later, goodbye; in the call's language when it is known."""
    return Response(runtime.busy_twiml(request.args.get(PARAM["lang"], "")), mimetype="text/xml")
