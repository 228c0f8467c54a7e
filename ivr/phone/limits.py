"""Rate limits on the webhooks, per client IP and per caller, counted by the `limits` package.

Two checks, each a sliding-window counter (limits' `SlidingWindowCounterRateLimiter`) that allows a
burst and then the steady rate:
- per client IP, before the signature check, so that a flood of forged requests is shed cheaply;
- per caller (the salted hash of From; per call when the number is withheld), after the signature
  check, so that nobody can use up a real caller's allowance with forged requests.
A refused caller hears that the line is busy (HTTP 200 TwiML: Twilio would play an application
error for anything else), then the call ends. With REDIS_URL the counts live in Redis and hold
across gunicorn workers; if Redis fails, each worker counts on its own until it is back
(ivr/counters.py, ivr/breaker.py). The client IP is `request.remote_addr`, which werkzeug's
ProxyFix sets from X-Forwarded-For behind IVR_PROXY_HOPS trusted proxies (ivr/factory.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask import Flask, Request, Response, request
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.strategies import SlidingWindowCounterRateLimiter

from ivr.counters import Counters
from ivr.engine.codec import PARAM
from ivr.logs import STEP_ENVIRON
from ivr.phone import sids
from ivr.phone.callers import Caller
from ivr.phone.runtime import Runtime

log = logging.getLogger("ivr.ratelimit")

# Twilio's own callbacks, not caller actions: never refused (a lost status callback is lost data).
EXEMPT_ENDPOINTS = frozenset({"voice.status"})
REDIS_PREFIX = "ivr:rl:"


@dataclass(frozen=True)
class Limit:
    """An allowance: up to `burst` requests at once, and `per_minute` on average after that."""

    burst: int
    per_minute: float

    @cached_property
    def window(self) -> RateLimitItem:
        """The allowance as limits counts it: `burst` requests in the seconds the rate takes to earn
        them (burst / rate, whole seconds, at least 1; then as many as the rate earns in that time)."""
        seconds = max(1, round(self.burst * 60 / self.per_minute))
        return RateLimitItemPerSecond(max(1, round(self.per_minute * seconds / 60)), seconds)

    def __str__(self) -> str:
        return f"{self.per_minute:g}/min (burst {self.burst})"


@dataclass
class RateLimits:
    """The line's limits and where they are counted."""

    caller: Limit
    ip: Limit
    counters: Counters

    def allow(self, limit: Limit, key: str) -> bool:
        """Count one request against `key` under `limit`: True if it is within it (a refusal counts
        for nothing, so a caller who keeps trying is let back in at the rate all the same)."""
        return self.counters.use(lambda limiter: limiter.hit(limit.window, key))


def from_config(config: Mapping[str, Any]) -> RateLimits | None:
    """The limits the settings ask for; None when rate limiting is off."""
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    return RateLimits(
        caller=Limit(int(config["RATELIMIT_CALLER_BURST"]), float(config["RATELIMIT_CALLER_PER_MINUTE"])),
        ip=Limit(int(config["RATELIMIT_IP_BURST"]), float(config["RATELIMIT_IP_PER_MINUTE"])),
        counters=Counters.for_redis(
            SlidingWindowCounterRateLimiter,
            config.get("REDIS_URL"),
            prefix=REDIS_PREFIX,
            what="rate limits:",
            log=log,
            while_down="this worker counts on its own until it is back",
        ),
    )


def from_app(app: Flask) -> RateLimits | None:
    """The app's limits (None when off, and said so; each at least 1, checked with the settings)."""
    limits = from_config(app.config)
    if limits is None:
        log.warning("rate limiting is off (IVR_RATELIMIT=0)")
    return limits


def limit_ip(request: Request, limits: RateLimits, runtime: Runtime) -> Response | None:
    """Before the signature check: refuse a client IP over its limit."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    ip = request.remote_addr or "unknown"  # the client's, behind trusted proxies (ProxyFix)
    if limits.allow(limits.ip, "ip:" + ip):
        return None
    log.warning("rate limited: client %s is over %s on %s", ip, limits.ip, request.path)
    return busy_reply(runtime)


def limit_caller(request: Request, limits: RateLimits, who: Caller, runtime: Runtime) -> Response | None:
    """After the signature check: refuse a caller over their limit, with a busy message."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    call_sid = sids.sid(request.form.get("CallSid", ""), "CA")
    if who.key:
        key = "caller:" + who.key
    elif call_sid:
        key = "call:" + call_sid  # a withheld number: one allowance per call, not one for them all
    else:
        return None
    if limits.allow(limits.caller, key):
        return None
    log.warning(
        "rate limited: caller %s is over %s on %s (call %s)",
        who.ref,
        limits.caller,
        request.path,
        call_sid or "-",
    )
    # The webhook's access line says which call was refused, like every answered webhook's.
    request.environ[STEP_ENVIRON] = {
        "CallSid": call_sid or None,
        "caller": who.ref,
        "event": "busy:rate-limited",
    }
    return busy_reply(runtime)


def busy_reply(runtime: Runtime) -> Response:
    """TwiML: the line is busy, try again later, goodbye; in the call's language when it is known."""
    return Response(runtime.busy_twiml(request.args.get(PARAM["lang"], "")), mimetype="text/xml")
