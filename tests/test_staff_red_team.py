"""The staff dashboard under attack and misuse: odd links, huge numbers, a long callback queue.

Each test is a fault found by reviewing the dashboard as an attacker and as a new operator would
use it: what staff, an administrator or the health check would see."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr import services
from ivr.privacy import caller_hash
from ivr.store import Store
from ivr.store.audit import VIEW_NUMBERS
from ivr.web.staff import hash_password
from tests.support.app import make_app
from tests.support.web import SALT, STAFF_PASSWORD, STAFF_USER, Seeded, csrf_token, log_in

pytestmark = pytest.mark.integration

HUGE_ID = "9" * 25  # more than any database integer holds


def store_of(app: Flask) -> Store:
    store: Store = services.store(app)
    return store


def logged_in(app: Flask, username: str = STAFF_USER, role: str | None = None) -> FlaskClient:
    if role is not None:
        assert store_of(app).add_staff_user(username, hash_password(STAFF_PASSWORD), role)
    client = app.test_client()
    assert log_in(client, username) == 303
    return client


def test_the_audit_log_names_every_callback_whose_number_was_shown(web_app: Flask, seeded: Seeded) -> None:
    # A queue of a few call-backs: their numbers in the audit entry read like a phone number
    # ("12, 13, 14, 15") and were masked away, so no one could tell which numbers were seen.
    store = store_of(web_app)
    for i in range(8):
        number = f"+4477009002{i:02d}"
        assert store.add_callback(f"CAqueue{i}", caller_hash(number, SALT), number, specialty="neurology")
    queue = [cb.id for cb in store.callbacks()]
    assert len(queue) == 9
    page = logged_in(web_app).get("/staff/callbacks")
    assert page.status_code == 200 and "tel:+447700900207" in page.get_data(as_text=True)
    found = store.audit_entries(action=VIEW_NUMBERS)
    assert found is not None
    (entry,) = found[0]
    named = [int(n) for n in re.findall(r"\d+", entry.target)]
    assert named == queue, entry.target
    assert "<number>" not in entry.target and "7700900" not in entry.target + (entry.detail or "")


@pytest.mark.parametrize(
    "next_page",
    ["/staff/calls\r\nSet-Cookie: staff=stolen", "/staff/calls\nX: y"],
    ids=["CRLF", "LF"],
)
def test_a_login_link_with_a_line_break_in_it_logs_in_to_the_dashboard(
    web_app: Flask, seeded: Seeded, next_page: str
) -> None:
    client = web_app.test_client()
    token = csrf_token(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login",
        data={"username": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": token, "next": next_page},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert "Set-Cookie: staff=stolen" not in str(response.headers)
    assert client.get("/staff/calls").status_code == 200


def test_a_page_number_past_any_database_integer_shows_an_empty_page_not_an_outage(
    web_app: Flask, seeded: Seeded
) -> None:
    admin = logged_in(web_app, "ravi", "admin")
    assert admin.get("/staff/callbacks").status_code == 200  # one entry in the log
    response = admin.get(f"/staff/audit/?page={HUGE_ID}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "could not be read" not in page and "No entries." in page
    first = admin.get("/staff/audit/?page=-3").get_data(as_text=True)
    assert "1 entry" in first


def _health(app: Flask) -> dict[str, object]:
    body: dict[str, object] = json.loads(app.test_client().get("/healthz").get_data(as_text=True))
    return body


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", f"/staff/callbacks/{HUGE_ID}/done"),
        ("post", f"/staff/recordings/{HUGE_ID}/reviewed"),
        ("get", f"/staff/recordings/{HUGE_ID}/listen"),
    ],
    ids=["callback done", "recording reviewed", "listen"],
)
def test_a_number_too_big_for_the_database_in_a_link_is_not_found_and_writes_stay_healthy(
    web_app: Flask, seeded: Seeded, method: str, url: str
) -> None:
    # It went to the database, failed there, and the health check said writes were failing.
    client = logged_in(web_app)
    token = csrf_token(client.get("/staff/recordings").get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token}) if method == "post" else client.get(url)
    assert response.status_code == 404
    assert _health(web_app)["writes"] == "ok"
    (callback,) = store_of(web_app).callbacks()
    assert callback.done_at is None


@pytest.mark.parametrize("who", ["\x00", "asha\x00", "ravi\x1b[31m"], ids=["NUL", "NUL after", "ESC"])
def test_a_person_with_a_control_character_in_the_audit_filter_matches_no_one(
    database_url: str, who: str
) -> None:
    # PostgreSQL refuses a NUL in a query: the page said the database could not be read.
    app = make_app(DATABASE_URL=database_url)
    try:
        assert store_of(app).prepare()
        admin = logged_in(app, "ravi", "admin")
        response = admin.get("/staff/audit/", query_string={"actor": who})
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "could not be read" not in page and "No entries match." in page
    finally:
        store_of(app).dispose()
