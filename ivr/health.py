"""GET /healthz for load balancers and uptime checks: is the content loaded and the database there?"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with what was checked, or 503 with the reason; never needs a Twilio signature."""
    started = time.perf_counter()
    problems: list[str] = []
    runtime = current_app.extensions.get("ivr")
    if runtime is None:
        problems.append("content not loaded")
    store = current_app.extensions.get("store")
    database = "missing"
    if store is None:
        problems.append("no database configured")
    else:
        reason = store.ping()
        database = "ok" if reason is None else "unreachable"
        if reason is not None:
            problems.append(f"database unreachable: {reason}")
    body = {
        "status": "ok" if not problems else "unavailable",
        "content": "ok" if runtime is not None else "missing",
        "languages": list(runtime.line.content.languages) if runtime is not None else [],
        "database": database,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if problems:
        body["reason"] = "; ".join(problems)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if problems else 200
