"""Whole calls against each real database: journeys, preferences and call-centre rows are kept; and a
database that is down never costs the caller anything."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.simulator import FlaskTransport, Phone
from tests.support.app import AUTH_TOKEN, BASE_URL, SignedClient, answer, indian_mobile, make_app

pytestmark = pytest.mark.integration

EVENING = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 20:00 in India: out of hours
TREE = load_content(REPO_ROOT).tree


def test_a_call_is_kept_on_each_database(database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url, OPERATOR_NUMBER="+911140000009")
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    answer(phone, "2", remember=True)
    # Medicines, the next part, slower, the main menu, About, its next part, then a text.
    drugs, about = TREE.keys_to("drug_therapy"), TREE.keys_to("about")
    for key in [*drugs, "1", "7", "#", *about, "1", "8"]:
        phone.press(key)
    store = services.store(app)
    events = store.events_for(phone.call_sid)
    assert [e.event for e in events][:5] == [
        "start:language",
        "language:hi",
        "consent:yes",
        "consent:kept",
        f"option:{drugs[0]}",
    ]
    assert "sms:sent" in [e.event for e in events]
    assert ("drug_therapy", 0) in [(e.node, e.part) for e in events]
    call = store.get_call(phone.call_sid)
    assert call is not None and call.caller_hash is not None
    SignedClient(app).post(
        "/voice/status", {"CallSid": phone.call_sid, "CallStatus": "completed", "CallDuration": "95"}
    )
    ended = store.get_call(phone.call_sid)
    assert ended is not None and ended.duration_seconds == 95 and ended.status == "completed"
    again = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=phone.caller).dial()
    assert {h.prosody_rate for h in again.heard} == {"80%"}, "language and speed remembered"
    assert {h.language for h in again.heard} == {"hi-IN"}


def test_callbacks_are_kept_on_each_database(database_url: str) -> None:
    app = make_app(
        DATABASE_URL=database_url,
        CLOCK=lambda: EVENING,
        DIRECTORY_ENV={"IVR_NEUROLOGIST_NUMBER": "+911140000001"},  # set up, but closed now
    )
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=indian_mobile())
    answer(phone, "1")
    for key in [*TREE.keys_to("drug_therapy"), "0", "1"]:  # a treatment topic: the neurologist's
        phone.press(key)
    rows = [c for c in services.store(app).callbacks() if c.call_sid == phone.call_sid]
    assert [(r.callback_number, r.specialty, r.language) for r in rows] == [
        (phone.caller, "neurologist", "en")
    ]


@pytest.mark.parametrize(
    "down",
    ["postgresql+psycopg://nobody@127.0.0.1:1/none", "sqlite:////proc/no-such-dir/ivr.sqlite3"],
    ids=["postgres-port-closed", "sqlite-unwritable"],
)
def test_with_the_database_down_the_whole_call_is_still_served(
    down: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DATABASE_URL=down, DB_MIGRATE_ON_START=False)
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    started = time.monotonic()
    answer(phone, "1")
    # Symptoms, two parts on, slower, the main menu: every step writes an event.
    turns = [phone.press(k) for k in [*TREE.keys_to("symptoms"), "1", "1", "7", "#"]]
    assert time.monotonic() - started < 10, "a dead database must not hold the caller up"
    assert all(t.error is None and t.gather is not None for t in turns)
    assert TREE.section("symptoms", "en").title in turns[1].says
    lost = [r.getMessage() for r in caplog.records if "LOST WRITE" in r.getMessage()]
    assert any("record_event" in m and phone.call_sid in m for m in lost), "every lost event is logged"
    assert not any(phone.caller in r.getMessage() for r in caplog.records)
