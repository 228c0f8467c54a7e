"""The line scaled out: two gunicorn masters behind a front machine's `bin/production`
(IVR_APP_SERVERS), one PostgreSQL, one Redis.

Calls whose requests go to both servers are kept whole and once; a caller's rate limit and a staff
user's lockout are counted across both; the dashboard is the same from either; and when one server
is killed mid-call, nginx sends the rest of the call to the other. Which server answered is read
from the servers' own logs.

deploy/nginx.conf runs `worker_processes auto` (a worker per CPU: 2 on the 2-CPU test machine),
and each nginx worker goes round the servers on its own (no shared `zone`): the requests one worker
passes on alternate between the two, but which worker takes a connection is the kernel's choice. So
the tests never assert a strict alternation: only that requests more numerous than nginx's workers
(7 in a call, 20 allowed and 20 refused) went to both servers, as at least one worker passed on two
of them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from ivr.store import Store
from tests.support.app import indian_mobile
from tests.support.over_http import wait_until
from tests.support.scale_out import (
    CALLER_BURST,
    PageBrowser,
    ScaleOut,
    Served,
    journey,
    journey_on_one_app,
)
from tests.support.server_logs import Answered
from tests.support.services import PrivateRedis, fresh_postgres_database
from tests.support.twiml import assert_valid_twiml

pytestmark = [pytest.mark.system, pytest.mark.slow]

# About, its next part, the main menu, a person (no one is set up: the call-back offer), 1: book it.
KEYS = ["4", "1", "#", "0", "1"]
STAFF, PASSWORD = "asha", "a long staff passphrase"
LOCKED, LOCKED_PASSWORD = "ravi", "another long passphrase"
CALL_SID = re.compile(r"CA[0-9a-f]{32}")


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScaleOut, Store]]:
    """Two servers and the front on a fresh database and a private Redis; a store to read the database."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (bin/setup installs it)")
    root = tmp_path_factory.mktemp("scale-out")
    redis = PrivateRedis(root)
    redis.start()
    with fresh_postgres_database("ivr_scale") as url:
        pair = ScaleOut(root, url, redis)
        try:
            pair.start()
            pair.create_staff_user(STAFF, PASSWORD)
            pair.create_staff_user(LOCKED, LOCKED_PASSWORD)
            store = Store.from_url(url)
            yield pair, store
            store.dispose()
        finally:
            pair.stop()
            redis.stop()


@pytest.fixture(scope="module")
def expected() -> list[tuple[str, str, int]]:
    """The journey KEYS leave on one app: what the two servers together must leave too."""
    return journey_on_one_app(KEYS)


def _assert_call_went_through(served: list[Served]) -> None:
    """Every request answered 200 with TwiML that validates against Twilio's schema."""
    for one in served:
        assert one.status == 200, (one.url, one.status, one.body[:300])
        assert_valid_twiml(one.body)


def _walk(pair: ScaleOut, keys: list[str]) -> tuple[str, list[Served]]:
    """A new caller through the front: answer in English (not remembered), press `keys`; the call's
    SID and requests."""
    phone, transport = pair.phone(indian_mobile())
    turns = [phone.dial(), phone.press("1"), phone.press("2")]
    turns += [phone.press(key) for key in keys]
    assert all(t.error is None for t in turns), [t.error for t in turns]
    assert turns[-1].gather is not None, "the call goes on at the main menu after the booking"
    return phone.call_sid, transport.served


def _answered_once(pair: ScaleOut, call_sid: str, served: list[Served]) -> list[Answered]:
    """The servers' access lines for the call: one for each request the phone made (the same paths,
    status 200), so no request went unlogged or was answered twice."""
    answered = pair.logs.wait_for_answers(call_sid, len(served))
    assert sorted(a.path for a in answered) == sorted(urlsplit(one.url).path for one in served), answered
    assert all(a.status == "200" for a in answered), answered
    return answered


def _assert_kept_once(store: Store, call_sid: str, expected: list[tuple[str, str, int]]) -> None:
    # Journey events are written in batches (IVR_EVENT_BATCH_MS): wait for the last one.
    wait_until(lambda: len(journey(store, call_sid)) >= len(expected), 30)
    assert journey(store, call_sid) == expected
    assert [c.specialty for c in store.callbacks() if c.call_sid == call_sid] == ["helpdesk"]


def test_whole_calls_go_to_both_servers_and_are_kept_once(
    line: tuple[ScaleOut, Store], expected: list[tuple[str, str, int]]
) -> None:
    pair, store = line
    for _ in range(2):
        call_sid, served = _walk(pair, KEYS)
        _assert_call_went_through(served)
        # 7 requests: whichever of nginx's workers took them, both servers answered part of the call.
        assert {a.server for a in _answered_once(pair, call_sid, served)} == {0, 1}
        _assert_kept_once(store, call_sid, expected)


def test_a_callers_rate_limit_counts_requests_to_both_servers(line: tuple[ScaleOut, Store]) -> None:
    pair, _ = line
    caller = indian_mobile()
    calls: list[tuple[str, bool]] = []
    for _ in range(2 * CALLER_BURST):  # each server alone would let all of these through
        phone, transport = pair.phone(caller)
        turn = phone.dial()
        (one,) = transport.served
        assert one.status == 200 and turn.error is None, one.body[:300]
        assert_valid_twiml(one.body)
        if turn.gather is None:
            assert turn.ended and "busy" in turn.text, turn.says
        calls.append((phone.call_sid, turn.gather is not None))
    assert sum(allowed for _, allowed in calls) == CALLER_BURST

    def server(call_sid: str, allowed: bool) -> list[int]:
        # An allowed call's access line names it; a refused one's names no call, but the server
        # that refused it logged the refusal with its CallSid.
        return [a.server for a in pair.logs.answered(call_sid)] if allowed else pair.logs.refused(call_sid)

    wait_until(lambda: all(len(server(*call)) == 1 for call in calls), 30)
    by_server = [(server(sid, allowed), allowed) for sid, allowed in calls]
    assert all(len(servers) == 1 for servers, _ in by_server), by_server
    # Both servers let some of the caller's calls in, and both refused some: one count for both.
    assert {servers[0] for servers, allowed in by_server if allowed} == {0, 1}, by_server
    assert {servers[0] for servers, allowed in by_server if not allowed} == {0, 1}, by_server


def test_wrong_staff_passwords_on_both_servers_lock_the_account_together(
    line: tuple[ScaleOut, Store],
) -> None:
    pair, _ = line
    browser = PageBrowser(pair.base_url)
    servers = [s.base_url for s in pair.servers]
    # Five wrong passwords (the default limit per name), alternately on each server directly.
    wrong = [browser.log_in_at(servers[i % 2], LOCKED, "not the passphrase") for i in range(5)]
    assert wrong == [401] * 5
    # Now locked out on both: even the right password is not checked.
    assert [browser.log_in_at(url, LOCKED, LOCKED_PASSWORD) for url in servers] == [429, 429]


def test_the_dashboard_is_the_same_from_either_server(
    line: tuple[ScaleOut, Store], expected: list[tuple[str, str, int]]
) -> None:
    pair, store = line
    call_sid, _ = _walk(pair, KEYS)  # left in progress: no final status yet
    _assert_kept_once(store, call_sid, expected)
    first, second = (s.base_url for s in pair.servers)
    browser = PageBrowser(first)
    assert browser.log_in_at(first, STAFF, PASSWORD) == 200
    for path in ("/staff/calls", "/staff/callbacks"):
        # The session cookie made by the first server is honoured by the second.
        (status_1, page_1), (status_2, page_2) = browser.page(path, first), browser.page(path, second)
        assert (status_1, status_2) == (200, 200), (page_1[:300], page_2[:300])
        assert call_sid in page_1
        assert CALL_SID.findall(page_1) == CALL_SID.findall(page_2)


def test_a_call_carries_on_through_the_other_server_when_one_is_killed_mid_call(
    line: tuple[ScaleOut, Store], expected: list[tuple[str, str, int]]
) -> None:
    pair, store = line
    phone, transport = pair.phone(indian_mobile())
    turns = [phone.dial(), phone.press("1"), phone.press("2"), phone.press(KEYS[0])]
    wait_until(lambda: len(journey(store, phone.call_sid)) >= 4, 30)  # what was done is kept
    before = _answered_once(pair, phone.call_sid, transport.served)
    # Kill a server the call is on: the one that answered its first webhook (master and workers).
    (victim,) = [a.server for a in before if a.path == "/voice"]
    survivor = 1 - victim
    pair.kill(victim)
    try:
        turns += [phone.press(key) for key in KEYS[1:]]
        assert all(t.error is None for t in turns), [t.error for t in turns]
        assert turns[-1].gather is not None, "the call goes on after the booking"
        _assert_call_went_through(transport.served)
        # The survivor answered every request after the kill. Each nginx worker goes round both
        # servers, so (with 2 workers, 4 requests) one that took two of them sent one to the killed
        # server first: refused, and passed on.
        after = _answered_once(pair, phone.call_sid, transport.served)
        answers = [sum(a.server == i for a in after) - sum(a.server == i for a in before) for i in (0, 1)]
        assert answers[victim] == 0 and answers[survivor] == len(KEYS) - 1, after
        _assert_kept_once(store, phone.call_sid, expected)
    finally:
        pair.revive(victim)
