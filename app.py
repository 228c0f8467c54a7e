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
except SystemExit as exc:
    # create_app's refusal of a bad setting (IVR_GATHER_TIMEOUT=abc), naming the variable: exit 4
    # too, so that gunicorn stops rather than restart the worker that refused.
    if not isinstance(exc.code, str):
        raise
    print(f"refusing to start: {exc.code}", file=sys.stderr, flush=True)
    raise SystemExit(4) from None
