"""The neuromuscular-disorders information line: a Flask app that answers Twilio voice webhooks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from ivr import config
from ivr.content import load_content
from ivr.engine import Line
from ivr.signature import parse_shared_keys

log = logging.getLogger("ivr")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, content (validated, or refuse to start), webhooks."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.from_env())
    if test_config:
        app.config.from_mapping(test_config)
    _secrets(app)
    content = load_content(Path(app.config["CONTENT_DIR"]), app.config["DEFAULT_LANGUAGE"])
    line = Line(content=content, operator_number=app.config["OPERATOR_NUMBER"])

    from ivr import voice

    app.extensions["ivr"] = voice.Runtime(line, app.config)
    app.register_blueprint(voice.bp)

    @app.get("/")
    def index() -> tuple[str, int, dict[str, str]]:
        return (
            "Neuromuscular disorders information line: point Twilio's voice URL at /voice.\n",
            200,
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    return app


def _secrets(app: Flask) -> None:
    """Fill in secrets: from the environment, else generated locally (and say so loudly)."""
    cfg = app.config
    if not cfg["TWILIO_AUTH_TOKEN"]:
        cfg["TWILIO_AUTH_TOKEN"] = config.local_secret(app.instance_path, "local-auth-token")
        log.warning(
            "TWILIO_AUTH_TOKEN is not set: using a generated local token (%s). Real Twilio requests"
            " will be refused with 403 until you set it.",
            Path(app.instance_path) / "local-auth-token",
        )
    if not cfg["HASH_SALT"]:
        cfg["HASH_SALT"] = config.local_secret(app.instance_path, "hash-salt")
    cfg["SHARED_KEYS"] = parse_shared_keys(cfg["TWILIO_WEBHOOK_KEYS"])
    if cfg["DEV_SKIP_SIGNATURE"]:
        log.warning("IVR_DEV_SKIP_SIGNATURE=1: signatures are NOT checked for requests from this machine")
