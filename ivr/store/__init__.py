"""Persistence for the line: callers' preferences, calls and their journeys, call-centre work."""

from __future__ import annotations

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
    "default_url",
    "make_engine",
    "normalise_url",
]
