"""`create_app`: settings, content (validated, or refuse to start), the store, the phone edge, the web."""

from __future__ import annotations

import logging
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr import config, health, logs, services
from ivr.content import Content, load_content
from ivr.content.directory import Directory, resolve_numbers
from ivr.content.lint import review_findings
from ivr.engine import Line
from ivr.numbers import NumberError, as_dialled
from ivr.phone import limits
from ivr.phone.callbacks import CallBacks, quiet_span
from ivr.phone.forms import WebhookRequest
from ivr.phone.reviews import ReviewFeed
from ivr.phone.runtime import Runtime
from ivr.phone.signature import parse_shared_keys
from ivr.phone.texts import SmsSender
from ivr.store import DatabaseUrlError, Store, default_url
from ivr.store.core import utc_now
from ivr.twiml import Narrator
from ivr.web import throttle

log = logging.getLogger("ivr")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, content (validated, or refuse to start), webhooks.

    `test_config` overrides settings by their `app.config` keys (validated like the variables) and
    adds any other keys as given. Bad settings or directory numbers raise SystemExit with one line
    per bad variable, naming it; broken content raises ContentError (app.py reports both).
    """
    app = Flask(__name__, instance_relative_config=True)
    app.request_class = WebhookRequest
    try:
        app.config.from_mapping(config.load(test_config))
    except config.SettingsError as exc:
        raise SystemExit(str(exc)) from None
    if not app.testing:  # tests leave logging to pytest
        logs.configure(app.config["LOG_FORMAT"])
    _secrets(app)
    content = load_content(Path(app.config["CONTENT_DIR"]), app.config["DEFAULT_LANGUAGE"])
    line = Line(
        content=content,
        operator_number=app.config["OPERATOR_NUMBER"],
        emergency_number=app.config["EMERGENCY_NUMBER"],
        emergency_transfer=app.config["EMERGENCY_TRANSFER"],
        directory=_directory(app, content),
        # 8 offers a text only when one can really be sent (Twilio's credentials are set).
        texts=bool(
            app.config["TWILIO_ACCOUNT_SID"]
            and app.config["TWILIO_REST_TOKEN"]
            and app.config["TWILIO_SMS_FROM"]
        ),
        # What callers are told of how long their data is kept is the purge's own settings.
        prefs_days=app.config["RETAIN_PREFS_DAYS"],
        callback_days=app.config["RETAIN_CALLBACK_DAYS"],
        recording_days=app.config["RETAIN_RECORDING_DAYS"],
    )

    from ivr import web
    from ivr.audio import cli as audio_cli
    from ivr.audio import web as audio_web
    from ivr.content import cli as content_cli
    from ivr.phone import agents, data_cli, sending, views
    from ivr.simulator import cli as simulator_cli
    from ivr.store import cli as store_cli
    from ivr.web import exports_cli

    for finding in review_findings(content, Path(app.config["CONTENT_DIR"]), date.today()):
        log.warning("content review: %s: %s", finding.where, finding.message)
    store = _store(app)
    if app.config["EVENT_BATCH_MS"] > 0 and not app.testing:
        store.batch_events(app.config["EVENT_BATCH_MS"] / 1000)
    sms = SmsSender(
        store,
        app.config["TWILIO_ACCOUNT_SID"],
        app.config["TWILIO_REST_TOKEN"],
        app.config["TWILIO_SMS_FROM"],
        app.config.get("TWILIO_HTTP_CLIENT"),
        daily_limit=app.config["SMS_DAILY_LIMIT"],
        country_codes=app.config["SMS_COUNTRY_CODES"],
        clock=app.config.get("CLOCK") or utc_now,  # tests fix the time: the cap's day, the retries'
    )
    reviews = ReviewFeed(line, store)
    reviews.refresh()
    # Before every request: a sign-off given on another worker counts here within REFRESH_S.
    app.before_request(reviews.refresh_if_due)
    services.install(
        app,
        services.Services(
            runtime=Runtime(line, app.config, _narrator(app, line)),
            store=store,
            sms=sms,
            callbacks=_callbacks(app, store),
            limits=limits.from_app(app),
            throttle=throttle.from_app(app, store),
            reviews=reviews,
        ),
    )
    app.register_blueprint(views.bp)
    app.register_blueprint(agents.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(audio_web.bp)
    app.cli.add_command(content_cli.content)
    app.cli.add_command(audio_cli.audio)
    app.cli.add_command(simulator_cli.call)
    app.cli.add_command(store_cli.db)
    data_cli.data.add_command(exports_cli.export_command)
    app.cli.add_command(data_cli.data)
    sending.init_app(app)

    # Twilio's webhooks are authenticated by their signatures, not by a form's CSRF token.
    web.init_app(app, webhooks=(views.bp, agents.bp))
    _proxies(app)
    return app


def _callbacks(app: Flask, store: Store) -> CallBacks:
    """The missed-call numbers' call-backs, placed with the REST credentials texts use."""
    cfg = app.config
    return CallBacks(
        store,
        cfg["TWILIO_ACCOUNT_SID"],
        cfg["TWILIO_REST_TOKEN"],
        cfg["PUBLIC_BASE_URL"],
        frozenset(filter(None, cfg["MISSED_CALL_NUMBERS"].split(","))),
        cfg.get("TWILIO_HTTP_CLIENT"),
        own_numbers=_own_numbers(cfg),
        country_codes=cfg["CALLBACK_COUNTRY_CODES"],
        delay=timedelta(seconds=cfg["CALLBACK_DELAY"]),
        daily_limit=cfg["CALLBACK_DAILY_LIMIT"],
        line_hourly_limit=cfg["CALLBACK_LINE_HOURLY_LIMIT"],
        quiet=quiet_span(cfg["CALLBACK_QUIET_HOURS"]),
        zone=ZoneInfo(cfg["TIME_ZONE"]),
        clock=cfg.get("CLOCK") or utc_now,
    )


def _own_numbers(cfg: Any) -> frozenset[str]:
    """The line's numbers besides its missed-call ones, in E.164: the number its pages show
    (IVR_LINE_NUMBER, as people write it) and the one its texts come from (TWILIO_SMS_FROM)."""
    codes = cfg["CALLBACK_COUNTRY_CODES"]
    found = (as_dialled(cfg[key] or "", codes) for key in ("LINE_NUMBER", "TWILIO_SMS_FROM"))
    return frozenset(number for number in found if number)


def _proxies(app: Flask) -> None:
    """Behind IVR_PROXY_HOPS trusted reverse proxies, `request.remote_addr` is the client's address:
    the one that many hops from the right of X-Forwarded-For (werkzeug's ProxyFix; with fewer
    addresses than hops, the peer's). The rate limits, the login lockout and the loopback-only
    signature switch all read it.

    Only X-Forwarded-For: the scheme, host, port and prefix stay the peer's (x_proto=0 and the rest:
    ProxyFix would otherwise trust X-Forwarded-Proto by default), so the URL a Twilio signature is
    checked against is PUBLIC_BASE_URL or the request's own, never one a client's header chose.
    """
    hops = int(app.config.get("RATELIMIT_PROXY_HOPS", 0))  # at least 0: checked with the settings
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )


def _directory(app: Flask, content: Content) -> Directory | None:
    """The specialist directory, its numbers read from the environment (and OPERATOR_NUMBER), each
    checked and made E.164; SystemExit naming each variable whose number is not valid."""
    if content.directory is None:
        return None
    env = {**os.environ, "IVR_OPERATOR_NUMBER": app.config["OPERATOR_NUMBER"] or ""}
    env.update(app.config.get("DIRECTORY_ENV") or {})
    try:
        return Directory(content.directory, resolve_numbers(content.directory, env))
    except NumberError as exc:
        raise SystemExit(str(exc)) from None


def _narrator(app: Flask, line: Line) -> Narrator | None:
    """<Play> of pre-rendered audio when AUDIO_BASE_URL is set; None means Twilio's <Say>."""
    if not app.config["AUDIO_BASE_URL"]:
        return None
    from ivr.audio.cache import AudioSettings, plan
    from ivr.audio.narrator import PlayNarrator

    settings = AudioSettings.from_config(app.config)
    todo = plan(line, settings)
    log.log(
        logging.WARNING if todo.missing else logging.INFO,
        "AUDIO_BASE_URL is set: %d of %d sentences have audio in %s; the rest use <Say>%s",
        len(todo.items) - len(todo.missing),
        len(todo.items),
        settings.audio_dir,
        " (run `flask --app app audio render`)" if todo.missing else "",
    )
    return PlayNarrator(app.config["AUDIO_BASE_URL"], settings)


def _store(app: Flask) -> Store:
    """The database, migrated to head now; if it is down, the line starts anyway without it."""
    url = app.config["DATABASE_URL"]
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = default_url(app.instance_path)
    try:
        store = Store.from_url(url, migrate=app.config["DB_MIGRATE_ON_START"])
    except DatabaseUrlError as exc:
        raise SystemExit(str(exc)) from exc
    if app.config["DB_MIGRATE_ON_START"]:
        store.prepare()
    return store


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
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = config.local_secret(app.instance_path, "secret-key")
    cfg["SHARED_KEYS"] = parse_shared_keys(cfg["TWILIO_WEBHOOK_KEYS"])
    if cfg["DEV_SKIP_SIGNATURE"]:
        log.warning("IVR_DEV_SKIP_SIGNATURE=1: signatures are NOT checked for requests from this machine")
        if cfg.get("RATELIMIT_PROXY_HOPS"):
            log.warning("IVR_DEV_SKIP_SIGNATURE=1 has no effect: IVR_PROXY_HOPS is set, so all are checked")
