"""Persistence for the line: callers' preferences, calls and their journeys, call-centre work."""

from __future__ import annotations

from flask import current_app

from ivr.store.db import DatabaseUrlError, default_url, make_engine, normalise_url
from ivr.store.store import (
    CallbackRow,
    CallRow,
    Counts,
    EventRow,
    Listening,
    Prefs,
    RecordingRow,
    SmsRow,
    StaffRow,
    Store,
)

__all__ = [
    "CallRow",
    "CallbackRow",
    "Counts",
    "DatabaseUrlError",
    "EventRow",
    "Listening",
    "Prefs",
    "RecordingRow",
    "SmsRow",
    "StaffRow",
    "Store",
    "current_store",
    "default_url",
    "make_engine",
    "normalise_url",
]


def current_store() -> Store:
    """The app's store (set by create_app)."""
    store: Store = current_app.extensions["store"]
    return store
