"""A database that answers but refuses every write: a full disk, a read-only database.

Reads go on (callers keep their saved language), every lost write is logged, and /healthz says
200 "degraded", "writes": "failing", with the database's reason, until a write is stored again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.privacy import caller_hash
from ivr.simulator import FlaskTransport, Phone
from ivr.store import Prefs, Store
from tests.support.app import AUTH_TOKEN, BASE_URL, make_app
from tests.support.refusals import refusing_writes

pytestmark = pytest.mark.integration

HI = load_content(REPO_ROOT).prompts["hi"].phrases
NUMBER = "+447700900123"
SALT = "test-salt"
# What each database says when it refuses a write (the first line of its error).
SAYS = {
    "sqlite-disk-full": "database or disk is full",
    "sqlite-read-only": "attempt to write a readonly database",
    "postgres-read-only": "cannot execute INSERT in a read-only transaction",
}
# Enough writes to fill what is left of the last page of a table before the page limit bites.
MAX_WRITES = 500


def _first_refused(store: Store, call_sid: str) -> int | None:
    """How many journey events were stored before one was refused (None: none was)."""
    return next((n for n in range(MAX_WRITES) if not store.record_event(call_sid, "menu", "main", n)), None)


@pytest.mark.parametrize(
    ("database_url", "refusal"),
    [("sqlite", "sqlite-disk-full"), ("sqlite", "sqlite-read-only"), ("postgres", "postgres-read-only")],
    indirect=["database_url"],
)
def test_a_database_refusing_writes_still_answers_reads_and_says_writes_fail(
    store: Store, refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.store")
    me = caller_hash(NUMBER, SALT)
    assert store.save_consent(me, "n1", language="hi", rate="normal")

    with refusing_writes(store, refusal):
        assert _first_refused(store, "CArefused") is not None, "the database never refused a write"
        assert store.get_prefs(me) == Prefs("hi", "normal"), "reads go on: no outage is remembered"
        health = store.health()
        assert health.unreachable is None, "it answers: it is not down"
        assert health.writes is not None and health.writes.refused
        assert SAYS[refusal] in health.writes.reason
    assert "LOST WRITE record_event call_sid=CArefused" in caplog.text
    assert "database unavailable" not in caplog.text, "a refusal is not an outage"

    assert store.record_event("CArefused", "menu", "main", MAX_WRITES) is True
    assert store.health().writes is None, "one stored write: writes work again"


def _healthz(app: Flask) -> tuple[int, dict[str, object]]:
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()


@pytest.mark.parametrize("refusal", ["sqlite-disk-full", "sqlite-read-only"])
def test_healthz_says_degraded_while_writes_fail_and_callers_are_still_answered(
    refusal: str, tmp_path: Path
) -> None:
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    returning = "+15550100002"
    first = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=returning)
    first.dial()
    first.press("2")  # Hindi,
    first.press("1")  # remembered for the next call
    status, body = _healthz(app)
    assert (status, body["status"]) == (200, "ok"), body
    store = services.store(app)

    with refusing_writes(store, refusal):
        for _ in range(MAX_WRITES):  # new calls until the database refuses one of their writes
            turn = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN).dial()
            assert turn.error is None and turn.gather is not None, turn.error
            status, body = _healthz(app)
            if body["status"] != "ok":
                break
        assert status == 200, "the line still answers every caller: it stays in rotation"
        assert body["status"] == "degraded", body
        assert body["database"] == "ok" and body["writes"] == "failing"
        assert SAYS[refusal] in str(body["reason"])
        again = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=returning).dial()
        assert again.says[0] == HI.welcome_back, "a returning caller is still recognised"

    Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN).dial()
    status, body = _healthz(app)
    assert (status, body["status"], body["writes"]) == (200, "ok", "ok"), body
    store.dispose()
