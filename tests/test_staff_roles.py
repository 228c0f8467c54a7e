"""Staff roles (call centre, clinician, admin) and the audit log of what staff do with callers' data."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text as sql

from ivr.store.audit import command_line_actor
from tests.support.web import (
    CALLBACK_DIGITS,
    CALLBACK_NUMBER,
    RECORDING_URL,
    STAFF_USER,
    Seeded,
    client_as,
    log_in,
    store_of,
)

pytestmark = pytest.mark.integration

CLINICIAN = "meera"
ADMIN = "ravi"
CALL_CENTRE_PAGES = ["/staff/calls", "/staff/callbacks", "/staff/missed-calls", "/staff/recordings"]


def nav_links(page: str) -> list[str]:
    nav = re.search(r'<nav class="staff-nav".*?</nav>', page, re.S)
    assert nav is not None
    return re.findall(r'href="([^"]+)"', nav.group(0))


def entries(app: Flask, **filters: str) -> list[tuple[str, str | None, str, str]]:
    found = store_of(app).audit_entries(**filters)  # type: ignore[arg-type]
    assert found is not None
    return [(row.actor, row.role, row.action, row.target) for row in found[0]]


def test_a_clinician_opens_no_callers_numbers_or_voices(web_app: Flask, seeded: Seeded) -> None:
    clinician = client_as(web_app, CLINICIAN, "clinician")
    for url in [*CALL_CENTRE_PAGES, f"/staff/recordings/{seeded.recording_id}/listen", "/staff/audit/"]:
        response = clinician.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 403, url
        assert "with the role clinician, which may not open this page" in page
        assert CALLBACK_DIGITS not in page and RECORDING_URL not in page
    # Nor may a clinician mark call-centre work done.
    refused = clinician.post(f"/staff/callbacks/{seeded.callback_id}/done")
    assert refused.status_code in (400, 403)  # no CSRF token, or the role: either way nothing done
    (row,) = store_of(web_app).callbacks()
    assert row.done_at is None
    # The dashboard sends them on to a page of theirs, and the navigation offers only those.
    landing = clinician.get("/staff/")
    assert landing.status_code == 302
    home = clinician.get(landing.headers["Location"])
    assert home.status_code == 200
    links = nav_links(home.get_data(as_text=True))
    assert "/staff/stats" in links
    assert not {"/staff/callbacks", "/staff/recordings", "/staff/calls", "/staff/audit/"} & set(links)
    assert entries(web_app) == [], "refused pages showed nothing, so there is nothing to record"


def test_only_an_admin_reads_the_audit_log(web_app: Flask, seeded: Seeded) -> None:
    call_centre = web_app.test_client()
    assert log_in(call_centre) == 303
    assert call_centre.get("/staff/audit/").status_code == 403
    assert "/staff/audit/" not in nav_links(call_centre.get("/staff/calls").get_data(as_text=True))
    admin = client_as(web_app, ADMIN, "admin")
    page = admin.get("/staff/audit/")
    assert page.status_code == 200 and "/staff/audit/" in nav_links(page.get_data(as_text=True))
    for url in CALL_CENTRE_PAGES:  # an admin opens everything
        assert admin.get(url).status_code == 200, url


def test_each_view_of_callers_numbers_is_recorded_before_they_are_shown(
    web_app: Flask, seeded: Seeded
) -> None:
    call_centre = web_app.test_client()
    assert log_in(call_centre) == 303
    queue = call_centre.get("/staff/callbacks").get_data(as_text=True)
    assert f'href="tel:{CALLBACK_NUMBER}"' in queue
    assert entries(web_app) == [(STAFF_USER, "staff", "view-numbers", f"callbacks no. {seeded.callback_id}")]
    call_centre.get("/staff/callbacks")
    assert len(entries(web_app, action="view-numbers")) == 2, "every view, not the first only"
    # The administrator sees who looked, when, at which call-backs: never the numbers themselves.
    admin = client_as(web_app, ADMIN, "admin")
    log_page = admin.get("/staff/audit/?action=view-numbers").get_data(as_text=True)
    assert log_page.count(f"<td>callbacks no. {seeded.callback_id}</td>") == 2
    assert f"<td>{STAFF_USER}</td>" in log_page and CALLBACK_DIGITS not in log_page
    assert "2 entries" in log_page


def break_the_audit_log(app: Flask) -> FlaskClient:
    """A logged-in call-centre client, and an audit log that can no longer be written to."""
    call_centre = app.test_client()
    assert log_in(call_centre) == 303
    with store_of(app).engine.begin() as conn:
        conn.execute(sql("DROP TABLE audit_log"))
    return call_centre


def test_numbers_stay_hidden_when_their_view_cannot_be_recorded(web_app: Flask, seeded: Seeded) -> None:
    page = break_the_audit_log(web_app).get("/staff/callbacks").get_data(as_text=True)
    assert CALLBACK_DIGITS not in page and f"•••• {CALLBACK_NUMBER[-4:]}" in page
    assert "The audit log could not be written, so numbers are shown by their last digits only." in page


def test_a_recording_stays_closed_when_its_listening_cannot_be_recorded(
    web_app: Flask, seeded: Seeded
) -> None:
    listen = break_the_audit_log(web_app).get(f"/staff/recordings/{seeded.recording_id}/listen")
    assert listen.status_code == 503 and "Location" not in listen.headers
    page = listen.get_data(as_text=True)
    assert RECORDING_URL not in page and "the recording cannot be opened now" in page


def test_listening_to_a_recording_goes_through_the_audit_log(web_app: Flask, seeded: Seeded) -> None:
    call_centre = web_app.test_client()
    assert log_in(call_centre) == 303
    listen = call_centre.get(f"/staff/recordings/{seeded.recording_id}/listen")
    assert listen.status_code == 303 and listen.headers["Location"] == RECORDING_URL
    assert entries(web_app) == [(STAFF_USER, "staff", "listen-recording", f"recording {seeded.recording_id}")]
    assert call_centre.get("/staff/recordings/999/listen").status_code == 404
    assert len(entries(web_app)) == 1


def test_roles_are_given_and_changed_from_the_command_line(web_app: Flask, seeded: Seeded) -> None:
    runner = web_app.test_cli_runner()
    added = runner.invoke(
        args=["staff", "add", CLINICIAN, "--role", "clinician"], input="x" * 12 + "\n" + "x" * 12 + "\n"
    )
    assert added.exit_code == 0 and f"added {CLINICIAN} (clinician)" in added.output
    wrong = runner.invoke(args=["staff", "role", CLINICIAN, "superuser"])
    assert wrong.exit_code == 2 and "'superuser' is not one of 'staff', 'clinician', 'admin'" in wrong.output
    listed = runner.invoke(args=["staff", "list"])
    assert listed.output.splitlines() == [f"{STAFF_USER}\tstaff", f"{CLINICIAN}\tclinician"]
    # A role change takes effect at once: the user's open sessions end.
    call_centre = web_app.test_client()
    assert log_in(call_centre) == 303
    changed = runner.invoke(args=["staff", "role", STAFF_USER, "admin"])
    assert changed.exit_code == 0 and f"{STAFF_USER} is now admin" in changed.output
    assert call_centre.get("/staff/calls").status_code == 302, "logged out: must log in again"
    assert log_in(call_centre) == 303
    assert call_centre.get("/staff/audit/").status_code == 200
    assert entries(web_app, action="role-change") == [
        (command_line_actor(), None, "role-change", f"staff user {STAFF_USER}")
    ]
    again = runner.invoke(args=["staff", "role", STAFF_USER, "admin"])
    assert again.exit_code == 0 and "already admin" in again.output
    assert len(entries(web_app, action="role-change")) == 1, "no change, nothing recorded"
