"""A running server seen over real HTTP: its /healthz, a staff member's browser, a stopwatch."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any, TypeVar
from urllib.parse import urlencode

from tests.support.web import STAFF_PASSWORD, STAFF_USER, csrf_token

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Seconds an action took (monotonic clock), and what it gave."""
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether the condition came true within the time (asked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def health(base_url: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    """GET /healthz: its status and JSON body (0 and {}: no answer in time, or the connection reset)."""
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


class StaffBrowser:
    """A staff member's browser: cookies kept, the login form sent with its CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def log_in(self, username: str = STAFF_USER, password: str = STAFF_PASSWORD) -> str:
        """Log in through the form; the URL it ends on (the dashboard when it worked)."""
        with self.opener.open(self.base_url + "/staff/login", timeout=30) as response:
            token = csrf_token(response.read().decode())
        form = urlencode({"username": username, "password": password, "csrf_token": token}).encode()
        with self.opener.open(self.base_url + "/staff/login", data=form, timeout=30) as response:
            return str(response.url)

    def get(self, path: str, timeout: float = 60) -> int:
        """A page's HTTP status (0: no answer in time, or the connection reset)."""
        try:
            with self.opener.open(self.base_url + path, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0
