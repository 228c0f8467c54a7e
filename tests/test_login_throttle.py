"""Brute-force protection of the staff login, through the app: lockouts per username and per client IP."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import MemoryStorage
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from ivr import services
from ivr.web import staff, throttle
from tests.support.app import make_app
from tests.support.services import REDIS_URL, PrivateRedis, local_redis
from tests.support.web import STAFF_PASSWORD, STAFF_USER, csrf_token, seed

pytestmark = pytest.mark.integration

WINDOW_S = 15 * 60
LOCKED = "Too many failed attempts. Try again in 15 minutes."
WRONG = "Wrong username or password."


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Flask]]:
    """Apps on one seeded database (like gunicorn workers), with the test's clock; disposed after."""
    made: list[Flask] = []
    url = f"sqlite:///{tmp_path / 'throttle.sqlite3'}"

    def build(**overrides: Any) -> Flask:
        config: dict[str, Any] = {"DATABASE_URL": url, "LOGIN_CLOCK": clock, "REDIS_URL": None, **overrides}
        app = make_app(**config)
        if not made:
            with app.app_context():
                seed(services.store())
        made.append(app)
        return app

    yield build
    for app in made:
        services.store(app).dispose()


@pytest.fixture
def web(make: Callable[..., Flask]) -> FlaskClient:
    return make().test_client()


def attempt(
    client: FlaskClient,
    username: str = STAFF_USER,
    password: str = "not the password",
    ip: str = "198.51.100.7",
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """Post the login form from a client address, as a browser would."""
    overrides = {"REMOTE_ADDR": ip}
    token = csrf_token(client.get("/staff/login", environ_overrides=overrides).get_data(as_text=True))
    return client.post(
        "/staff/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_overrides=overrides,
        headers=headers or {},
    )


def alert(response: TestResponse) -> str:
    """The text of the page's role="alert" element (empty when there is none)."""
    found = re.search(r'<p[^>]*\brole="alert"[^>]*>([^<]*)</p>', response.get_data(as_text=True))
    return found.group(1) if found else ""


def assert_locked(response: TestResponse, message: str = LOCKED) -> None:
    assert response.status_code == 429
    assert alert(response) == message
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW_S
    assert 'id="password"' in response.get_data(as_text=True), "the normal login form, to try again later"


# One username, one client.


def test_five_wrong_passwords_lock_the_username_even_against_the_right_one(web: FlaskClient) -> None:
    for name in ("asha", "ASHA", " Asha ", "asha", "aSHA"):  # case-folded: all the same username
        response = attempt(web, name)
        assert response.status_code == 401 and alert(response) == WRONG
    response = attempt(web, password=STAFF_PASSWORD)
    assert_locked(response)
    assert response.headers["Retry-After"] == str(WINDOW_S)
    assert 'aria-invalid="true"' not in response.get_data(as_text=True), "nothing typed was wrong"
    assert web.get("/staff/").status_code == 302, "not logged in"


def test_while_locked_the_password_is_not_checked(web: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(5):
        attempt(web)
    checks: list[str] = []

    def counting(pwhash: str, password: str) -> bool:
        checks.append(password)
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(staff, "check_password_hash", counting)
    assert_locked(attempt(web, password=STAFF_PASSWORD))
    assert_locked(attempt(web, password="another guess"))
    assert checks == []


def test_the_lockout_ends_with_its_window(web: FlaskClient, clock: FakeClock) -> None:
    started = clock.now
    for _ in range(5):
        attempt(web)
        clock.now += 60  # the window runs from the first failure, not the last
    clock.now = started + WINDOW_S - 241
    response = attempt(web, password=STAFF_PASSWORD)
    assert_locked(response, "Too many failed attempts. Try again in 5 minutes.")
    assert response.headers["Retry-After"] == "241"
    clock.now += 240
    assert_locked(attempt(web, password=STAFF_PASSWORD), "Too many failed attempts. Try again in 1 minute.")
    clock.now += 1
    assert attempt(web, password=STAFF_PASSWORD).status_code == 303
    assert web.get("/staff/").status_code == 200


def test_logging_in_clears_the_usernames_failures(web: FlaskClient) -> None:
    for _ in range(4):
        assert attempt(web).status_code == 401
    assert attempt(web, password=STAFF_PASSWORD).status_code == 303
    web.post("/staff/logout", data={"csrf_token": csrf_token(web.get("/staff/").get_data(as_text=True))})
    for _ in range(5):
        assert attempt(web).status_code == 401, "five mistakes are allowed again"
    assert_locked(attempt(web, password=STAFF_PASSWORD))


def test_a_locked_username_is_locked_from_every_address_and_no_other_is(web: FlaskClient) -> None:
    for _ in range(5):
        attempt(web, ip="198.51.100.7")
    assert_locked(attempt(web, password=STAFF_PASSWORD, ip="203.0.113.9"))
    assert attempt(web, "ravi", ip="203.0.113.9").status_code == 401, "another name is only wrong"


def test_an_unknown_username_locks_the_same_way(web: FlaskClient) -> None:
    # Otherwise a lockout would tell an attacker which names are staff.
    for _ in range(5):
        assert attempt(web, "nobody").status_code == 401
    assert_locked(attempt(web, "nobody"))


def test_a_lockout_is_logged_with_the_name_and_address_never_the_password(
    web: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for n in range(7):
        attempt(web, password=f"secret guess {n}")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "staff login: asha locked out after 5 failed attempts in 15 min (the last from 198.51.100.7)"
    ], "one report per lockout"
    assert "secret guess" not in caplog.text


def test_a_password_typed_as_a_username_is_not_logged(
    web: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(5):
        attempt(web, "correcthorsebattery")  # a valid-looking name, but nobody's
    assert "staff login: an unknown username locked out" in caplog.text
    assert "correcthorsebattery" not in caplog.text


# One client, many usernames.


@pytest.mark.slow
def test_twenty_failures_from_one_address_lock_it_out_for_every_username(web: FlaskClient) -> None:
    for n in range(20):
        assert attempt(web, f"guess{n % 10}").status_code == 401  # each name only twice
    assert_locked(attempt(web, password=STAFF_PASSWORD))
    assert_locked(attempt(web, "ravi"))
    assert attempt(web, password=STAFF_PASSWORD, ip="203.0.113.9").status_code == 303, "others may"


@pytest.mark.slow
def test_the_limits_come_from_the_settings(make: Callable[..., Flask]) -> None:
    web = make(LOGIN_MAX_FAILURES_USER=2, LOGIN_MAX_FAILURES_IP=3, LOGIN_WINDOW_S=60).test_client()
    attempt(web)
    attempt(web)
    one_minute = "Too many failed attempts. Try again in 1 minute."
    assert_locked(attempt(web, password=STAFF_PASSWORD), one_minute)
    assert attempt(web, "ravi").status_code == 401
    assert_locked(attempt(web, "meera"), one_minute)


@pytest.mark.slow
def test_logging_in_gives_the_address_back_the_count_it_took(make: Callable[..., Flask]) -> None:
    # Each login is counted as failed before its password is checked; a right one gives it back, so
    # a busy office behind one address is not locked out by its own staff logging in.
    web = make(LOGIN_MAX_FAILURES_IP=3).test_client()
    for _ in range(4):
        assert attempt(web, password=STAFF_PASSWORD).status_code == 303
        web.post("/staff/logout", data={"csrf_token": csrf_token(web.get("/staff/").get_data(as_text=True))})
    assert attempt(web, "ravi").status_code == 401
    assert attempt(web, "meera").status_code == 401
    assert attempt(web, "ravi").status_code == 401, "the third failure from the address is still checked"
    assert_locked(attempt(web, password=STAFF_PASSWORD))


@pytest.mark.slow
@pytest.mark.parametrize("webhook_limits", [True, False])
def test_behind_a_proxy_the_client_is_the_forwarded_address(
    make: Callable[..., Flask], webhook_limits: bool
) -> None:
    # The proxy is there whether or not the webhooks' rate limits are on.
    web = make(RATELIMIT_ENABLED=webhook_limits, RATELIMIT_PROXY_HOPS=1).test_client()
    proxy = "10.0.0.2"
    for n in range(20):
        attempt(web, f"guess{n % 10}", ip=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
    assert_locked(attempt(web, "ravi", ip=proxy, headers={"X-Forwarded-For": "198.51.100.7"}))
    colleague = {"X-Forwarded-For": "203.0.113.9"}
    assert attempt(web, password=STAFF_PASSWORD, ip=proxy, headers=colleague).status_code == 303


def test_limits_that_are_not_positive_stop_the_app(make: Callable[..., Flask]) -> None:
    with pytest.raises(SystemExit, match="IVR_LOGIN_MAX_FAILURES_USER"):
        make(LOGIN_MAX_FAILURES_USER=0)


@pytest.mark.unit
def test_each_workers_own_counts_are_forgotten_when_their_windows_end() -> None:
    limits = {"LOGIN_WINDOW_S": 1, "LOGIN_MAX_FAILURES_USER": 5, "LOGIN_MAX_FAILURES_IP": 20}
    gate = throttle.from_config(limits)  # no store, no Redis: this worker's own counts
    for n in range(1000):
        gate.reserve("asha", f"192.0.2.{n % 250}.{n}")
    storage = gate.counters.local.storage
    assert isinstance(storage, MemoryStorage)
    assert gate.locked_for("asha", "192.0.2.1") > 0
    time.sleep(1.2)
    assert gate.locked_for("asha", "192.0.2.1") == 0.0, "the window has ended"
    gate.reserve("ravi", "198.51.100.7")  # a count wakes limits' expiry timer
    deadline = time.monotonic() + 2
    while len(storage.storage) > 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(storage.storage) <= 2, "a worker's memory holds only the counts of open windows"


@pytest.mark.parametrize(
    ("windows", "wait"),
    [
        ([(0, 0.0)], 0.0),
        ([(5, 241.0)], 241.0),
        ([(4, 100.0), (1, 900.0)], 100.0),  # 4 of this worker's during an outage, 1 shared since
        ([(5, 100.0), (5, 900.0)], 900.0),
        ([(3, 100.0), (1, 900.0)], 0.0),
    ],
)
def test_a_lockout_lasts_until_fewer_than_the_limit_are_left_in_open_windows(
    windows: list[tuple[int, float]], wait: float
) -> None:
    assert throttle._wait(windows, 5) == wait


# Redis (the real server on 127.0.0.1:6379), shared by every worker.


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the local Redis, emptied after it."""
    client = local_redis()
    prefix = f"test:login:{secrets.token_hex(6)}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.slow
def test_workers_share_the_count_in_redis(make: Callable[..., Flask], redis_prefix: str) -> None:
    one, two = (make(REDIS_URL=REDIS_URL, LOGIN_REDIS_PREFIX=redis_prefix).test_client() for _ in range(2))
    for n in range(5):
        assert attempt(one if n % 2 else two).status_code == 401
    assert_locked(attempt(one, password=STAFF_PASSWORD))
    assert_locked(attempt(two, password=STAFF_PASSWORD))
    client = redis.Redis.from_url(REDIS_URL)
    stored = list(client.scan_iter(match=redis_prefix + "*"))
    assert any("user:asha" in name.decode() for name in stored), "the counts are in Redis, under the prefix"
    assert all(0 < client.pttl(name) <= WINDOW_S * 1000 for name in stored), "the counts expire"
    client.close()
    # An operator unlocks a colleague from the command line, for every worker at once.
    result = one.application.test_cli_runner().invoke(args=["staff", "unlock", "Asha"])
    assert result.exit_code == 0 and "asha may log in again now" in result.output
    assert attempt(two, password=STAFF_PASSWORD).status_code == 303


# Without Redis: the line's database, shared by every worker too.


@pytest.mark.slow
def test_workers_share_the_count_in_the_database(make: Callable[..., Flask], clock: FakeClock) -> None:
    one, two = (make().test_client() for _ in range(2))  # two workers on one database
    for n in range(5):
        assert attempt(one if n % 2 else two).status_code == 401
    assert_locked(attempt(one, password=STAFF_PASSWORD))
    assert_locked(attempt(two, password=STAFF_PASSWORD))
    result = one.application.test_cli_runner().invoke(args=["staff", "unlock", "Asha"])
    assert result.exit_code == 0 and "asha may log in again now" in result.output
    assert attempt(two, password=STAFF_PASSWORD).status_code == 303, "unlocked for every worker"


@pytest.mark.slow
def test_with_no_database_a_worker_still_locks_out_and_unlock_says_why_it_cannot(
    make: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make()  # seeds the shared database (unused here)
    caplog.set_level(logging.WARNING)
    down = make(DATABASE_URL=f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}")
    web = down.test_client()
    for _ in range(5):
        assert attempt(web).status_code == 401
    assert_locked(attempt(web))
    assert "LOST WRITE add_login_failure" in caplog.text, "the store says what it could not keep"
    result = down.test_cli_runner().invoke(args=["staff", "unlock", "asha"])
    assert result.exit_code != 0 and "the database is unavailable: asha is still locked out" in result.output


def test_without_any_database_unlock_says_why_it_cannot(clock: FakeClock) -> None:
    limits = {"LOGIN_WINDOW_S": 60, "LOGIN_MAX_FAILURES_USER": 5, "LOGIN_MAX_FAILURES_IP": 20}
    gate = throttle.from_config(limits)  # no store: an app with no database at all
    assert gate.shared is None
    app = make_app()
    services.of(app).throttle = gate
    from ivr.web.cli import staff as staff_cli

    result = app.test_cli_runner().invoke(staff_cli, ["unlock", "asha"])
    assert result.exit_code != 0 and "each server worker keeps its own count" in result.output


@pytest.mark.slow
def test_logging_in_clears_the_usernames_failures_in_redis(
    make: Callable[..., Flask], redis_prefix: str
) -> None:
    one, two = (make(REDIS_URL=REDIS_URL, LOGIN_REDIS_PREFIX=redis_prefix).test_client() for _ in range(2))
    for _ in range(4):
        attempt(one)
    assert attempt(two, password=STAFF_PASSWORD).status_code == 303
    for _ in range(5):
        assert attempt(one).status_code == 401, "five mistakes are allowed again"
    assert_locked(attempt(one))


def test_without_redis_each_worker_counts_on_its_own_and_says_so_once(
    make: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ivr.web.throttle")
    web = make(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    started = time.monotonic()
    for _ in range(5):
        assert attempt(web).status_code == 401
    assert_locked(attempt(web, password=STAFF_PASSWORD))
    assert time.monotonic() - started < 5
    assert caplog.text.count("Redis unavailable") == 1, "one report per outage, not one per request"


def test_when_redis_fails_workers_count_on_their_own_then_share_again_and_keep_what_they_counted(
    make: Callable[..., Flask], private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.web.throttle")
    one, two = (make(REDIS_URL=private_redis.url).test_client() for _ in range(2))
    for app in (one, two):
        breaker = services.throttle(app.application).counters.breaker
        assert breaker is not None
        breaker.retry_after = 0.2
    assert attempt(one).status_code == 401  # counted in Redis
    private_redis.stop()
    for _ in range(4):
        assert attempt(one).status_code == 401, "counted by this worker on its own"
    assert caplog.text.count("staff login throttle: Redis unavailable") == 1
    assert attempt(two).status_code == 401, "the other worker has not seen them"
    command = make(REDIS_URL=private_redis.url).test_cli_runner()  # `flask staff unlock`: its own process
    result = command.invoke(args=["staff", "unlock", "asha"])
    assert result.exit_code != 0 and "Redis is unavailable: asha is still locked out" in result.output
    private_redis.start()  # empty: what Redis counted before is lost with it
    time.sleep(0.3)  # the breaker's retry_after
    assert attempt(one).status_code == 401, "a 5th failure, counted in Redis"
    assert caplog.text.count("staff login throttle: Redis is back") == 1
    assert "asha locked out after 5 failed attempts" in caplog.text, "4 on its own and 1 in Redis"
    assert_locked(attempt(one, password=STAFF_PASSWORD))
    for _ in range(3):
        assert attempt(two).status_code == 401, "shared in Redis again"
    assert_locked(attempt(two, password=STAFF_PASSWORD))  # 4 in Redis and its own 1
