"""GET /healthz for load balancers and uptime checks: is the content loaded and the database there?

503 when the line cannot work as it should: no content, or no database (unreachable, or not
answering within its deadline: a remembered outage is reported at once, without waiting on it).
200 with "status": "degraded" when the database answers but this worker's writes are failing (a
full disk, a read-only database): callers still get every piece of information, their saved
language and speed, and the truth when a call back cannot be booked, so the line stays in a load
balancer's rotation (taking it out would leave callers nothing at all), while an uptime check or an
operator sees "degraded" and "writes": "failing", with the reason, until a write is stored again.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify

from ivr import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 "ok" or "degraded" with what was checked, or 503 with the reason; needs no signature."""
    started = time.perf_counter()
    problems: list[str] = []
    warnings: list[str] = []
    found = services.find()
    line = found.runtime.line if found is not None else None
    if line is None:
        problems.append("content not loaded")
    database = "missing"
    writes = "unknown"
    if found is None:
        problems.append("no database configured")
    else:
        health = found.store.health()
        database = "ok" if health.unreachable is None else "unreachable"
        if health.unreachable is not None:
            # Only the kind of failure: the driver's message names the database's host and port,
            # which this unauthenticated page must not tell anyone (the store's log has it whole).
            kind = health.unreachable.partition(":")[0].partition(" ")[0]
            problems.append(f"database unreachable: {kind}")
        writes = "ok" if health.writes is None else "failing"
        if health.writes is not None:
            ago = time.monotonic() - health.writes.since
            warnings.append(f"writes failing for {ago:.0f} s: {health.writes.reason}")
    status = "unavailable" if problems else "degraded" if warnings else "ok"
    body = {
        "status": status,
        "content": "ok" if line is not None else "missing",
        "languages": list(line.content.languages) if line is not None else [],
        "database": database,
        "writes": writes,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if problems or warnings:
        body["reason"] = "; ".join(problems + warnings)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if problems else 200
