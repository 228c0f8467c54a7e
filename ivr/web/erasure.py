"""Erasing a caller's data on request, from the dashboard (/staff/erase): the same erasure as the
caller's own "forget me" and `flask data erase NUMBER` (ivr/phone/erasure.py), for a caller who
asks staff by phone, letter or in person. Each erasure is in the audit log first, by the caller's
pseudonym, never the number."""

from __future__ import annotations

from dataclasses import asdict

from flask import render_template, request
from flask.typing import ResponseReturnValue

from ivr.phone.erasure import (
    AuditUnavailableError,
    InvalidNumberError,
    StoreUnavailableError,
    erase_number_for_staff,
)
from ivr.web import staff
from ivr.web.roles import ERASE, requires

bp = staff.blueprint("erasure", __name__, "/staff/erase")

NOT_CONFIRMED = "Tick the box to confirm that the caller asked for this."
NOT_A_NUMBER = "That is not a phone number with its country code, like +91 98123 45678."
NOT_RECORDED = "The audit log could not be written, so nothing was erased. Try again shortly."
NOT_ERASED = "The database could not erase now, so nothing was erased. Try again shortly."
NUMBER_MAX = 64  # longer is not a phone number; the form's field says so too


@bp.route("/", methods=["GET", "POST"])
@requires(ERASE)
def erase() -> ResponseReturnValue:
    """A form for a number; on POST (confirmed), erase what the line keeps for it and say what went:
    400 for no confirmation or no number, 503 when the audit log or the database cannot."""
    if request.method == "GET":
        return render_template("staff/erase.html", page="erase")
    number = request.form.get("number", "")[:NUMBER_MAX]
    user = staff.current_user()
    assert user is not None  # the guard let only a logged-in user through

    def again(error: str, status: int) -> ResponseReturnValue:
        return render_template("staff/erase.html", page="erase", error=error, number=number), status

    if request.form.get("confirm") != "yes":
        return again(NOT_CONFIRMED, 400)
    try:
        ref, erased = erase_number_for_staff(number, user.username, role=user.role)
    except InvalidNumberError:
        return again(NOT_A_NUMBER, 400)
    except AuditUnavailableError:
        return again(NOT_RECORDED, 503)
    except StoreUnavailableError:
        return again(NOT_ERASED, 503)
    return render_template("staff/erase.html", page="erase", erased=asdict(erased), ref=ref)
