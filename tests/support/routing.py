"""An app whose specialists all have numbers, on a fixed clock: routing depends on opening hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from tests.support.app import make_app

NEURO, SURGERY, DESK = "+911140000001", "+911140000002", "+911140000009"


def routed_app(now: datetime, **overrides: Any) -> Flask:
    """An app at `now` with the neurologist's and surgical referrals' numbers set."""
    numbers = {"IVR_NEUROLOGIST_NUMBER": NEURO, "IVR_SURGICAL_REFERRALS_NUMBER": SURGERY}
    config: dict[str, Any] = {"CLOCK": lambda: now, "DIRECTORY_ENV": numbers, **overrides}
    return make_app(**config)
