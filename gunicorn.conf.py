"""Gunicorn settings for the line: `gunicorn -c gunicorn.conf.py app:app` (what bin/serve runs).

HOST and PORT (default 127.0.0.1:8000), WEB_CONCURRENCY (default 2 workers per core), LOG_FORMAT
(json, or text), GUNICORN_PRELOAD=1 to build the app once in the master before forking.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))
worker_class = "sync"
# Twilio waits 15 s for a webhook; a worker silent for twice that is stuck, and is replaced.
timeout = 30
# On SIGTERM a worker finishes the request in hand (a caller is waiting on it) before it exits.
graceful_timeout = 20
accesslog = "-"
# No control socket (gunicorn 27 opens one at ~/.gunicorn/gunicorn.ctl): the line is run by signals
# (systemd, bin/production), and two masters on one host would share that one default path.
control_socket_disable = True
# Off by default: each worker builds its own app, database pool and Redis connection after the fork.
preload_app = os.environ.get("GUNICORN_PRELOAD", "") == "1"

_log_format = os.environ.get("LOG_FORMAT", "json").strip().lower() or "json"
if _log_format != "text":
    from ivr.logs import gunicorn_logconfig

    logconfig_dict = gunicorn_logconfig(_log_format)


def on_starting(server: Any) -> None:
    """Check the settings and the content before any worker starts: a bad variable (named) or
    broken content (file:line) stops the server, with no worker started and no traceback."""
    from ivr.config import SettingsError, from_env
    from ivr.content import ContentError, load_content
    from ivr.content.directory import resolve_numbers
    from ivr.numbers import NumberError

    try:
        settings = from_env()
        content = load_content(Path(settings["CONTENT_DIR"]), settings["DEFAULT_LANGUAGE"])
        if content.directory is not None:
            resolve_numbers(content.directory)  # the specialists' numbers, from the environment
    except (SettingsError, ContentError, NumberError) as exc:
        print(f"gunicorn: refusing to start, {exc}", file=sys.stderr, flush=True)
        # 4 is gunicorn's own "app failed to load" code.
        raise SystemExit(4) from None


def _store() -> Any:
    """The store of the app this process loaded, if it has loaded one."""
    flask_app = getattr(sys.modules.get("app"), "app", None)
    return getattr(flask_app, "extensions", {}).get("store")


def post_fork(server: Any, worker: Any) -> None:
    """With preload, the master's database connections must not be shared by the workers."""
    store = _store()
    if store is not None:
        # close=False: the connections belong to the master; the worker only forgets them.
        store.engine.dispose(close=False)


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stops (restart, SIGTERM): write the journey events it still holds."""
    store = _store()
    if store is not None:
        store.flush()
