"""Security headers on every response of the app: every route of app.url_map with each of its
methods, logged in or not, signed or not, and the 404, 405, 413 and 500 pages of every part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from ivr import services
from ivr.web.site import HSTS
from tests.support.app import AUTH_TOKEN, make_app
from tests.support.web import Seeded, csrf_token, log_in, seed

pytestmark = pytest.mark.integration

PUBLIC = "https://line.example"
AUDIO_FILE = "ab" * 32 + ".wav"
TOO_BIG = "x" * 600_000  # past werkzeug's 500 kB for one form field: 413
ERROR_PAGES = [
    ("GET", "/no-such-page", 404),
    ("GET", "/staff/no-such-page", 404),
    ("GET", "/staff", 308),  # to /staff/
    ("POST", "/voice/no-such-hook", 404),
    ("GET", "/audio/" + "0" * 64 + ".wav", 404),
    ("GET", "/audio/not-a-name", 404),
    ("GET", "/static/no-such-file.css", 404),
    ("GET", "/hi/topics/no_such_topic", 404),
    ("GET", "/voice", 405),
    ("GET", "/staff/logout", 405),
    ("DELETE", "/healthz", 405),
    ("PUT", "/staff/login", 405),
    ("GET", "/staff/broken", 500),
    ("GET", "/broken", 500),
]


def _broken() -> str:
    raise RuntimeError("a bug in a page")


@pytest.fixture(params=["https public address", "no public address"])
def line(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Flask, Seeded]]:
    """An app (behind https://line.example, or none set) with every page's data, an audio file,
    and two pages that fail, one under /staff/ (exceptions become 500 pages, as in production)."""
    public = PUBLIC if request.param == "https public address" else None
    app = make_app(
        DATABASE_URL=f"sqlite:///{tmp_path / 'headers.sqlite3'}",
        PUBLIC_BASE_URL=public,
        AUDIO_DIR=str(tmp_path / "audio"),
        PROPAGATE_EXCEPTIONS=False,
    )
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / AUDIO_FILE).write_bytes(b"RIFF....WAVE")
    app.add_url_rule("/staff/broken", "staff_broken", _broken)
    app.add_url_rule("/broken", "broken", _broken)
    with app.app_context():
        seeded = seed(services.store())
    yield app, seeded
    services.store(app).dispose()


def assert_secure(response: TestResponse, path: str, hsts: bool) -> None:
    where = f"{path} -> {response.status_code}"
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "same-origin", where
    if hsts:
        assert headers.get("Strict-Transport-Security") == HSTS, where
        max_age = int(HSTS.split("max-age=")[1].split(";")[0])
        assert max_age >= 365 * 24 * 3600 and "includeSubDomains" in HSTS
    else:
        assert "Strict-Transport-Security" not in headers, f"{where}: HSTS over plain HTTP"
    if path.startswith("/staff"):
        assert headers.get("Cache-Control") == "no-store", where


def _samples(seeded: Seeded) -> dict[str, str]:
    """A value for each variable part of a route; a new route's variable must be added here."""
    return {
        "filename": "web.css",
        "name": AUDIO_FILE,
        "lang": "hi",
        "node": "symptoms",
        "call_sid": "CAended0",
        "callback_id": str(seeded.callback_id),
        "recording_id": str(seeded.recording_id),
        "topic": "symptoms",
        "section": "symptoms",
        "part": "0",
        "sentence": "0",
        "rate": "normal",
    }


def _webhook_form(app: Flask, path: str) -> tuple[dict[str, str], dict[str, str]]:
    form = {"CallSid": "CAheaders0", "From": "+15550001111", "To": "+15005550001"}
    base = app.config["PUBLIC_BASE_URL"] or "http://localhost"
    return form, {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(base + path, form)}


def _crawl(app: Flask, client: FlaskClient, seeded: Seeded, hsts: bool, staff: bool = False) -> int:
    """Every route of the app with every method it takes; the number of responses checked. `staff`:
    the client is logged in, and logs in again after the crawl has logged it out."""
    adapter = app.url_map.bind("localhost")
    samples = _samples(seeded)
    checked = 0
    for rule in app.url_map.iter_rules():
        missing = rule.arguments - samples.keys()
        assert not missing, f"add a sample value for {missing} ({rule.rule}) to the crawl"
        if rule.endpoint in ("broken", "staff_broken"):
            continue
        path = adapter.build(rule.endpoint, {arg: samples[arg] for arg in rule.arguments})
        for method in sorted(rule.methods or ()):
            attempts: list[tuple[dict[str, str], dict[str, str]]] = [({}, {})]
            if method == "POST" and path.startswith("/voice"):
                attempts.append(_webhook_form(app, path))
            elif method == "POST":
                page = client.get("/staff/login", follow_redirects=True)  # logged in: the dashboard
                token = csrf_token(page.get_data(as_text=True))
                attempts.append(({"csrf_token": token}, {}))
            for form, headers in attempts:
                response = client.open(path, method=method, data=form, headers=headers)
                assert_secure(response, path, hsts)
                checked += 1
                if staff and path == "/staff/logout" and response.status_code == 303:
                    assert log_in(client) == 303
    return checked


def _errors(client: FlaskClient, hsts: bool) -> None:
    for method, path, status in ERROR_PAGES:
        response = client.open(path, method=method)
        assert response.status_code == status, (method, path, response.status_code)
        assert_secure(response, path, hsts)
    for path in ("/staff/login", "/voice"):
        response = client.post(path, data={"field": TOO_BIG}, content_type="multipart/form-data")
        assert response.status_code == 413, path
        assert_secure(response, path, hsts)


def test_every_route_and_error_page_carries_the_security_headers(line: tuple[Flask, Seeded]) -> None:
    app, seeded = line
    hsts = app.config["PUBLIC_BASE_URL"] == PUBLIC
    anonymous = app.test_client()
    assert _crawl(app, anonymous, seeded, hsts) >= 2 * len(list(app.url_map.iter_rules()))
    _errors(anonymous, hsts)
    staff = app.test_client()
    assert log_in(staff) == 303
    _crawl(app, staff, seeded, hsts, staff=True)
    assert staff.get("/staff/").status_code == 200, "the crawl saw the pages logged in"
    _errors(staff, hsts)


def test_over_https_every_response_says_to_keep_to_https(line: tuple[Flask, Seeded]) -> None:
    app, _ = line
    client = app.test_client()
    for path in ("/", "/healthz", "/staff/login", "/no-such-page", "/audio/" + AUDIO_FILE):
        response = client.get(path, base_url="https://localhost")
        assert_secure(response, path, hsts=True)
