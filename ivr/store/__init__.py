"""Persistence for the line: callers' preferences, calls and their journeys, call-centre work.

Only re-exports: the modules below import one another, never this package's root.
"""

from __future__ import annotations

from ivr.store.audit import AuditRow
from ivr.store.callcentre import CallbackRow, RecordingRow
from ivr.store.calls import KEEP_PLACE, CallRow, EventRow, Place, Prefs
from ivr.store.db import DatabaseUrlError, default_url, make_engine, normalise_url
from ivr.store.figures import Journey
from ivr.store.staff import StaffRow
from ivr.store.stats import Counts, Listening
from ivr.store.store import Store

__all__ = [
    "KEEP_PLACE",
    "AuditRow",
    "CallRow",
    "CallbackRow",
    "Counts",
    "DatabaseUrlError",
    "EventRow",
    "Journey",
    "Listening",
    "Place",
    "Prefs",
    "RecordingRow",
    "StaffRow",
    "Store",
    "default_url",
    "make_engine",
    "normalise_url",
]
