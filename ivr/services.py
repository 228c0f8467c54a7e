"""Typed access to the app's services: the only module that reads or writes `app.extensions`.

`create_app` (ivr/factory.py) builds one `Services` and installs it; views, commands and pages ask
for what they need (`runtime()`, `line()`, `store()`, `sms()`, `callbacks()`, `limits()`,
`throttle()`, `reviews()`), by type,
from the current app or from one they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from ivr.engine import Line
    from ivr.phone.callbacks import CallBacks
    from ivr.phone.limits import RateLimits
    from ivr.phone.reviews import ReviewFeed
    from ivr.phone.runtime import Runtime
    from ivr.phone.texts import SmsSender
    from ivr.store import Store
    from ivr.web.throttle import LoginThrottle

EXTENSION = "ivr"


@dataclass
class Services:
    """What one app runs on. `limits` is None when rate limiting is off."""

    runtime: Runtime
    store: Store
    sms: SmsSender
    callbacks: CallBacks
    limits: RateLimits | None
    throttle: LoginThrottle
    reviews: ReviewFeed


def install(app: Flask, services: Services) -> None:
    """Make `services` the app's (create_app does this once)."""
    app.extensions[EXTENSION] = services


def find(app: Flask | None = None) -> Services | None:
    """The app's services, or None while it is being built (health checks say so)."""
    found: Services | None = (app or current_app).extensions.get(EXTENSION)
    return found


def of(app: Flask | None = None) -> Services:
    """The app's services (the current app's by default); RuntimeError before create_app made them."""
    found = find(app)
    if found is None:
        raise RuntimeError("the app's services are not set up: build the app with ivr.factory.create_app")
    return found


def runtime(app: Flask | None = None) -> Runtime:
    """The phone line's runtime: the engine line, the narrator, the TwiML cache."""
    return of(app).runtime


def line(app: Flask | None = None) -> Line:
    """The engine's line: content, prompts, numbers."""
    return of(app).runtime.line


def store(app: Flask | None = None) -> Store:
    """The database (it may be down: its methods say so rather than raise)."""
    return of(app).store


def sms(app: Flask | None = None) -> SmsSender:
    """The text-message sender."""
    return of(app).sms


def callbacks(app: Flask | None = None) -> CallBacks:
    """The missed-call numbers' call-backs."""
    return of(app).callbacks


def limits(app: Flask | None = None) -> RateLimits | None:
    """The webhooks' rate limits; None when they are off."""
    return of(app).limits


def reviews(app: Flask | None = None) -> ReviewFeed:
    """The clinical sign-offs the line and the pages read: `refresh()` after one is given."""
    return of(app).reviews


def throttle(app: Flask | None = None) -> LoginThrottle:
    """The staff-login lockout."""
    return of(app).throttle
