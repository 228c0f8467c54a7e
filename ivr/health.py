"""GET /healthz for load balancers and uptime checks: is the content loaded and the database there?"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify

from ivr import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with what was checked, or 503 with the reason; never needs a Twilio signature."""
    started = time.perf_counter()
    problems: list[str] = []
    found = services.find()
    line = found.runtime.line if found is not None else None
    if line is None:
        problems.append("content not loaded")
    database = "missing"
    if found is None:
        problems.append("no database configured")
    else:
        reason = found.store.ping()
        database = "ok" if reason is None else "unreachable"
        if reason is not None:
            problems.append(f"database unreachable: {reason}")
    body = {
        "status": "ok" if not problems else "unavailable",
        "content": "ok" if line is not None else "missing",
        "languages": list(line.content.languages) if line is not None else [],
        "database": database,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if problems:
        body["reason"] = "; ".join(problems)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if problems else 200
