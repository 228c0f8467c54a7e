"""Staff sessions end on the server: after logging out, a new password or `flask staff revoke`, a
copy of the session cookie (stolen, or left in another browser) opens nothing."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from ivr import services
from ivr.store import Store
from ivr.web.staff import hash_password
from tests.support.web import STAFF_PASSWORD, STAFF_USER, Seeded, csrf_token, log_in

pytestmark = pytest.mark.integration

COOKIE = "__Host-ivr-session"


def store_of(app: Flask) -> Store:
    store: Store = services.store(app)
    return store


def logged_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert log_in(client) == 303
    return client


def copy_of(app: Flask, browser: FlaskClient) -> FlaskClient:
    """Another client holding a copy of the browser's session cookie (as a thief would)."""
    cookie = browser.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value, domain=cookie.domain, path=cookie.path)
    return thief


def log_out(client: FlaskClient) -> None:
    token = csrf_token(client.get("/staff/").get_data(as_text=True))
    response = client.post("/staff/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/staff/login"


def test_a_copied_cookie_is_worthless_once_its_owner_logs_out(web_app: Flask, seeded: Seeded) -> None:
    browser = logged_in(web_app)
    thief = copy_of(web_app, browser)
    page = thief.get("/staff/callbacks")
    assert page.status_code == 200, "the copy works while the session is open"
    token = csrf_token(page.get_data(as_text=True))

    log_out(browser)

    for url in ("/staff/", "/staff/callbacks", "/staff/calls/CAended0"):
        response = thief.get(url)
        assert response.status_code == 302 and response.headers["Location"] == f"/staff/login?next={url}"
    done = thief.post(f"/staff/callbacks/{seeded.callback_id}/done", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/staff/login"
    assert [c.id for c in store_of(web_app).callbacks()] == [seeded.callback_id], "nothing was done"
    assert browser.get("/staff/").status_code == 302
    assert log_in(browser) == 303 and browser.get("/staff/").status_code == 200, "logging in again works"


def test_logging_out_ends_the_users_sessions_in_every_browser(web_app: Flask, seeded: Seeded) -> None:
    office, home = logged_in(web_app), logged_in(web_app)
    log_out(office)
    assert home.get("/staff/").status_code == 302


def test_a_new_password_ends_every_open_session(web_app: Flask, seeded: Seeded) -> None:
    browser = logged_in(web_app)
    thief = copy_of(web_app, browser)
    result = web_app.test_cli_runner().invoke(
        args=["staff", "password", STAFF_USER], input="a brand new passphrase\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert browser.get("/staff/").status_code == 302 and thief.get("/staff/").status_code == 302


def test_an_operator_can_end_a_users_sessions_at_once(web_app: Flask, seeded: Seeded) -> None:
    browser = logged_in(web_app)
    thief = copy_of(web_app, browser)
    assert store_of(web_app).add_staff_user("ravi", hash_password("ravi's long password"))
    colleague = web_app.test_client()
    assert log_in(colleague, "ravi", "ravi's long password") == 303
    runner = web_app.test_cli_runner()

    result = runner.invoke(args=["staff", "revoke", "Asha"])

    assert result.exit_code == 0 and "ended every session of asha" in result.output
    assert browser.get("/staff/").status_code == 302 and thief.get("/staff/").status_code == 302
    assert colleague.get("/staff/").status_code == 200, "only asha's sessions end"
    assert log_in(browser, STAFF_USER, STAFF_PASSWORD) == 303
    missing = runner.invoke(args=["staff", "revoke", "nobody"])
    assert missing.exit_code != 0 and "no staff user nobody" in missing.output


def test_logging_out_when_the_database_refuses_the_write_says_a_copy_may_still_work(
    web_app: Flask, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    browser = logged_in(web_app)
    thief = copy_of(web_app, browser)
    token = csrf_token(browser.get("/staff/").get_data(as_text=True))
    with store_of(web_app).engine.begin() as conn:  # the database now reads but refuses writes
        conn.execute(
            text("CREATE TRIGGER frozen BEFORE UPDATE ON staff_users BEGIN SELECT RAISE(ABORT, 'no'); END")
        )
    response = browser.post("/staff/logout", data={"csrf_token": token}, follow_redirects=True)
    assert "the server could not end your session everywhere" in response.get_data(as_text=True)
    assert "could not end asha's sessions on the server" in caplog.text
    assert browser.get("/staff/").status_code == 302, "this browser is logged out all the same"
    assert thief.get("/staff/").status_code == 200, "which is why the page says so"
