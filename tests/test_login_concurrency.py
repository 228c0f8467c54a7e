"""Sixty wrong staff logins at once, against real gunicorn workers on a shared count: at most the
limit of passwords are checked, on SQLite, on PostgreSQL and in Redis."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ivr.simulator.server import Gunicorn
from ivr.store import Store
from tests.support.services import PrivateRedis
from tests.support.web import STAFF_USER, csrf_token, seed

pytestmark = [pytest.mark.system, pytest.mark.slow]

AT_ONCE = 60
MAX_USER = 5
WORKERS = 4
CHECKED = "staff login: wrong password for asha from 127.0.0.1"


def _login_form(base_url: str) -> tuple[str, str]:
    """A browser's first visit to the login page: its session cookie and the form's CSRF token."""
    with urllib.request.urlopen(base_url + "/staff/login", timeout=30) as response:
        cookie = response.headers["Set-Cookie"].split(";", 1)[0]
        return cookie, csrf_token(response.read().decode())


def _post_login(base_url: str, cookie: str, token: str) -> int:
    form = {"username": STAFF_USER, "password": "a wrong guess at it", "csrf_token": token}
    request = urllib.request.Request(
        base_url + "/staff/login", data=urlencode(form).encode(), headers={"Cookie": cookie}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def _all_at_once(base_url: str) -> Counter[int]:
    """AT_ONCE browsers, each with its own session, post a wrong password at the same moment."""
    forms = [_login_form(base_url) for _ in range(AT_ONCE)]
    start = threading.Barrier(AT_ONCE)
    statuses: list[int] = []

    def one(cookie: str, token: str) -> None:
        start.wait(60)
        statuses.append(_post_login(base_url, cookie, token))

    threads = [threading.Thread(target=one, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return Counter(statuses)


def _server(tmp_path: Path, database_url: str, **env: str) -> Gunicorn:
    store = Store.from_url(database_url)
    assert store.prepare()
    seed(store)
    store.dispose()
    settings = {
        "DATABASE_URL": database_url,
        "IVR_SECRET_KEY": "concurrency-secret-key",
        "TWILIO_AUTH_TOKEN": "concurrency-token",
        "IVR_LOGIN_MAX_FAILURES_USER": str(MAX_USER),
        **env,
    }
    return Gunicorn("app:app", workers=WORKERS, env=settings, log_path=tmp_path / "gunicorn.log")


def _checked(server: Gunicorn) -> int:
    """Passwords the workers checked and found wrong, as their JSON log says."""
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return sum(entry["message"] == CHECKED for entry in entries)


def _assert_at_most_the_limit_checked(server: Gunicorn) -> None:
    with server:
        statuses = _all_at_once(server.base_url)
    assert sum(statuses.values()) == AT_ONCE
    assert statuses == Counter({401: MAX_USER, 429: AT_ONCE - MAX_USER}), statuses
    assert _checked(server) == MAX_USER, server.log()[-3000:]


def test_sixty_wrong_logins_at_once_check_only_five_passwords_in_the_database(
    tmp_path: Path, database_url: str
) -> None:
    _assert_at_most_the_limit_checked(_server(tmp_path, database_url))


def test_sixty_wrong_logins_at_once_check_only_five_passwords_in_redis(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    server = _server(tmp_path, url, REDIS_URL=private_redis.url)
    _assert_at_most_the_limit_checked(server)
