"""WSGI entry point: `gunicorn app:app` or `flask --app app run`."""

import sys

from ivr.content import ContentError
from ivr.factory import create_app

try:
    app = create_app()
except ContentError as exc:
    # The problems, file:line each, without a traceback; 4 is gunicorn's "app failed to load" (a
    # worker exiting with any other code would be restarted, over and over).
    print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(4) from None
