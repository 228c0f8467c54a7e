"""Shared by the web tests: a staff user, calls with journeys, a callback and a recording."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from ivr import services
from ivr.privacy import caller_hash
from ivr.store import Store
from ivr.web.staff import hash_password

STAFF_USER = "asha"
STAFF_PASSWORD = "a long staff passphrase"
SALT = "test-salt"
CALLBACK_NUMBER = "+447700900123"
CALLBACK_DIGITS = "7700900123"  # the part of the number that no other page may show
CALLER = caller_hash(CALLBACK_NUMBER, SALT)
RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/ACx/Recordings/RE0123456789abcdef"
# Where each seeded ended call went: (event, node, part) steps; the last node is where it ended.
JOURNEYS: dict[str, list[tuple[str, str, int]]] = {
    "CAended0": [("start", "main", 0), ("option:2", "symptoms_causes", 0), ("option:1", "symptoms", 0)],
    "CAended1": [
        ("start", "main", 0),
        ("option:2", "symptoms_causes", 0),
        ("option:1", "symptoms", 0),
        ("next", "symptoms", 1),
    ],
    "CAended2": [("start", "main", 0), ("option:1", "about", 0)],
}
LIVE_CALL = "CAlive0"


@dataclass(frozen=True)
class Seeded:
    """Ids of what seed() made."""

    callback_id: int
    recording_id: int


def seed(store: Store) -> Seeded:
    """Fill an empty store with what every dashboard page shows."""
    assert store.add_staff_user(STAFF_USER, hash_password(STAFF_PASSWORD))
    for sid, steps in JOURNEYS.items():
        assert store.call_started(sid, CALLER, "en")
        for event, node, part in steps:
            assert store.record_event(sid, event, node, part)
        assert store.call_ended(sid, "completed", 95)
    assert store.call_started(LIVE_CALL, None, None)
    assert store.record_event(LIVE_CALL, "start:language", "_language", 0)
    callback_id = store.add_callback(
        "CAended0", CALLER, CALLBACK_NUMBER, specialty="neurology", language="en"
    )
    recording_id = store.add_recording("CAended1", RECORDING_URL, duration_seconds=42, specialty="neurology")
    assert callback_id is not None and recording_id is not None
    return Seeded(callback_id, recording_id)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def log_in(client: FlaskClient, username: str = STAFF_USER, password: str = STAFF_PASSWORD) -> int:
    """Log in through the form, as a browser would; the response's status."""
    token = csrf_token(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return response.status_code


def store_of(app: Flask) -> Store:
    """The app's store, typed."""
    store: Store = services.store(app)
    return store


def client_as(app: Flask, username: str, role: str) -> FlaskClient:
    """A new staff user with a role of ivr.store.models.STAFF_ROLES, logged in through the form."""
    assert store_of(app).add_staff_user(username, hash_password(STAFF_PASSWORD), role)
    client = app.test_client()
    assert log_in(client, username) == 303
    return client
