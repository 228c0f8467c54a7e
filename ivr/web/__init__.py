"""The web side of the line: the public topic pages and the staff dashboard."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import BadRequest

from ivr.web import audit, cli, erasure, figures_page, public, review, staff
from ivr.web.site import LanguageConverter, PageSessions, secure_headers

log = logging.getLogger("ivr.web")

STALE_FORM = "This form is out of date or did not come from this site. Reload and try again."


def init_app(app: Flask, webhooks: Iterable[Blueprint] = ()) -> None:
    """Register the public pages, the staff dashboard and `flask staff`; protect every form; give
    every response of the app its security headers (ivr/web/site.py `secure_headers`).

    Every POST (PUT, PATCH, DELETE) needs this session's CSRF token (Flask-WTF's `CSRFProtect`: the
    `csrf_token` field, or an X-CSRFToken / X-CSRF-Token header), else 400, except to `webhooks`:
    Twilio's requests carry no session and are authenticated by X-Twilio-Signature instead.
    """
    # Security headers on every response of the app, the webhooks' and every error page included.
    app.after_request(secure_headers)
    app.session_interface = PageSessions()
    app.url_map.converters["lang"] = LanguageConverter
    # A token lasts as long as its session (8 h, and a new one at log-in and log-out), not
    # Flask-WTF's default hour: a dashboard left open over lunch must still mark a callback done.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf = CSRFProtect(app)
    for blueprint in webhooks:
        csrf.exempt(blueprint)
    app.register_error_handler(CSRFError, _stale_form)
    app.register_blueprint(public.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(figures_page.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(erasure.bp)
    app.cli.add_command(cli.staff)


def _stale_form(error: CSRFError) -> ResponseReturnValue:
    """400 with a sentence staff can act on, instead of Flask-WTF's reason (which goes to the log)."""
    log.info("refused a form without a valid CSRF token: %s", error.description)
    return BadRequest(STALE_FORM).get_response()
