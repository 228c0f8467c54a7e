"""The web side of the line: the public topic pages and the staff dashboard."""

from __future__ import annotations

from flask import Flask

from ivr.web import cli, public, staff
from ivr.web.site import LanguageConverter, PageSessions


def init_app(app: Flask) -> None:
    """Register the public pages, the staff dashboard and `flask staff`."""
    app.session_interface = PageSessions()
    app.url_map.converters["lang"] = LanguageConverter
    app.register_blueprint(public.bp)
    app.register_blueprint(staff.bp)
    app.cli.add_command(cli.staff)
