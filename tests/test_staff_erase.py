"""Erasure by staff, from the dashboard and `flask data erase`, and every erasure in the audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text as sql

from ivr import services
from ivr.phone.callers import identify
from ivr.simulator import FlaskTransport, Phone
from ivr.store.audit import CALLER_BY_VOICE, command_line_actor
from tests.support.app import AUTH_TOKEN, BASE_URL, make_app
from tests.support.personal import EVERYTHING, NOTHING, SALT, Seeded, held, seed_caller
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.web import client_as, csrf_token, store_of

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ME, YOU = "+919812345678", "+919812345679"
REF = identify(ME, SALT).ref  # the caller's log pseudonym: what the audit log names
# What goes for a seeded caller (tests/support/personal.py): every kind, the recording's audio at Twilio.
KINDS = "callers 1, callbacks 2, missed calls 1, texts 2, text quota 1, recordings 1"
ERASED_ALL = f"done: {KINDS}, calls unlinked 1, audio deleted 1"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    made = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.sqlite3'}", TWILIO_HTTP_CLIENT=FakeTwilioHttp())
    yield made
    services.store(made).dispose()


@pytest.fixture
def both(app: Flask) -> tuple[Seeded, Seeded]:
    store = store_of(app)
    return seed_caller(store, ME, AT), seed_caller(store, YOU, AT)


def post_erase(client: FlaskClient, number: str, *, confirm: bool = True) -> tuple[int, str]:
    form = {"csrf_token": csrf_token(client.get("/staff/erase/").get_data(as_text=True)), "number": number}
    if confirm:
        form["confirm"] = "yes"
    response = client.post("/staff/erase/", data=form)
    return response.status_code, response.get_data(as_text=True)


def audit(app: Flask) -> list[tuple[str, str | None, str, str, str | None]]:
    found = store_of(app).audit_entries(action="erase")
    assert found is not None
    return [(r.actor, r.role, r.action, r.target, r.detail) for r in reversed(found[0])]


def test_call_centre_staff_erase_a_number_from_the_dashboard(app: Flask, both: tuple[Seeded, Seeded]) -> None:
    me, you = both
    asha = client_as(app, "asha", "staff")
    form = asha.get("/staff/erase/").get_data(as_text=True)
    assert '<label for="number">' in form and 'href="/staff/erase/"' in form, "in the navigation"
    status, page = post_erase(asha, "+91 98123-45678")  # any spelling of the number
    assert status == 200
    assert f"Erased for {REF}" in page and "98123" not in page
    shown = dict(re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', page))
    assert shown["callers"] == "1" and shown["callbacks"] == "2" and shown["recordings"] == "1"
    store = store_of(app)
    assert held(store, me) == NOTHING and held(store, you) == EVERYTHING
    assert audit(app) == [
        ("asha", "staff", "erase", REF, "requested"),
        ("asha", "staff", "erase", REF, ERASED_ALL),
    ]


@pytest.mark.parametrize(
    ("number", "confirm", "said"),
    [
        (ME, False, "Tick the box to confirm that the caller asked for this."),
        ("98123 45678", True, "That is not a phone number with its country code"),
        ('=HYPERLINK("x")', True, "That is not a phone number with its country code"),
        ("9" * 5000, True, "That is not a phone number with its country code"),
    ],
)
def test_an_erasure_not_confirmed_or_not_a_number_erases_nothing(
    app: Flask, both: tuple[Seeded, Seeded], number: str, confirm: bool, said: str
) -> None:
    me, _ = both
    status, page = post_erase(client_as(app, "asha", "staff"), number, confirm=confirm)
    assert status == 400 and said in page and 'role="alert"' in page
    assert held(store_of(app), me) == EVERYTHING and audit(app) == []


def test_a_clinician_may_not_erase(app: Flask, both: tuple[Seeded, Seeded]) -> None:
    me, _ = both
    meera = client_as(app, "meera", "clinician")
    assert meera.get("/staff/erase/").status_code == 403
    assert "/staff/erase/" not in meera.get("/staff/review/").get_data(as_text=True)
    assert held(store_of(app), me) == EVERYTHING


def test_nothing_is_erased_when_the_audit_log_cannot_record_it(
    app: Flask, both: tuple[Seeded, Seeded]
) -> None:
    me, _ = both
    asha = client_as(app, "asha", "staff")
    token = csrf_token(asha.get("/staff/erase/").get_data(as_text=True))
    with store_of(app).engine.begin() as conn:
        conn.execute(sql("DROP TABLE audit_log"))
    response = asha.post("/staff/erase/", data={"csrf_token": token, "number": ME, "confirm": "yes"})
    assert response.status_code == 503
    assert "The audit log could not be written, so nothing was erased." in response.get_data(as_text=True)
    assert held(store_of(app), me) == EVERYTHING


def test_flask_data_erase_is_in_the_audit_log_as_the_system_user(
    app: Flask, both: tuple[Seeded, Seeded]
) -> None:
    result = app.test_cli_runner().invoke(args=["data", "erase", "0091 98123 45678"])
    assert result.exit_code == 0 and f"erased for {REF}" in result.output
    cli = command_line_actor()
    assert audit(app) == [(cli, None, "erase", REF, "requested"), (cli, None, "erase", REF, ERASED_ALL)]


def test_a_callers_own_forget_me_is_in_the_audit_log(app: Flask, both: tuple[Seeded, Seeded]) -> None:
    me, _ = both
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=ME)
    phone.dial()
    phone.say("forget me")
    phone.press("1")
    assert held(store_of(app), me) == NOTHING
    # Their calls unlinked: the seeded one and this one.
    done = f"done: {KINDS}, calls unlinked 2, audio deleted 1"
    assert audit(app) == [(CALLER_BY_VOICE, None, "erase", REF, done)]
