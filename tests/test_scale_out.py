"""The line scaled out: two gunicorn masters behind nginx's upstream, one PostgreSQL, one Redis.

Calls whose requests alternate between the two servers are kept whole and once; a caller's rate
limit and a staff user's lockout are counted across both; the dashboard is the same from either;
and when one server is killed mid-call, nginx sends the rest of the call to the other.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator

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
    """Two servers and nginx on a fresh database and a private Redis; a store to read the database."""
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
    """A new caller through nginx: answer in English, press `keys`; the call's SID and requests."""
    phone, transport = pair.phone(indian_mobile())
    turns = [phone.dial(), phone.press("1")]
    turns += [phone.press(key) for key in keys]
    assert all(t.error is None for t in turns), [t.error for t in turns]
    assert turns[-1].gather is not None, "the call goes on at the main menu after the booking"
    return phone.call_sid, transport.served


def _assert_kept_once(store: Store, call_sid: str, expected: list[tuple[str, str, int]]) -> None:
    # Journey events are written in batches (IVR_EVENT_BATCH_MS): wait for the last one.
    wait_until(lambda: len(journey(store, call_sid)) >= len(expected), 30)
    assert journey(store, call_sid) == expected
    assert [c.specialty for c in store.callbacks() if c.call_sid == call_sid] == ["helpdesk"]


def test_whole_calls_alternate_between_the_two_servers_and_are_kept_once(
    line: tuple[ScaleOut, Store], expected: list[tuple[str, str, int]]
) -> None:
    pair, store = line
    for _ in range(2):
        call_sid, served = _walk(pair, KEYS)
        _assert_call_went_through(served)
        servers = [pair.index(one.upstreams[0]) for one in served]
        assert all(len(one.upstreams) == 1 for one in served), "no request was retried"
        assert all(a != b for a, b in itertools.pairwise(servers)), servers
        assert set(servers) == {0, 1}
        _assert_kept_once(store, call_sid, expected)


def test_a_callers_rate_limit_counts_requests_to_both_servers(line: tuple[ScaleOut, Store]) -> None:
    pair, _ = line
    caller = indian_mobile()
    allowed: list[int] = []
    refused: list[int] = []
    for _ in range(2 * CALLER_BURST):  # each server alone would let all of these through
        phone, transport = pair.phone(caller)
        turn = phone.dial()
        (one,) = transport.served
        assert one.status == 200 and turn.error is None, one.body[:300]
        assert_valid_twiml(one.body)
        server = pair.index(one.upstreams[0])
        if turn.gather is not None:
            allowed.append(server)
        else:
            assert turn.ended and "busy" in turn.text, turn.says
            refused.append(server)
    assert len(allowed) == CALLER_BURST
    assert set(allowed) == set(refused) == {0, 1}


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
    turns = [phone.dial(), phone.press("1"), phone.press(KEYS[0])]
    wait_until(lambda: len(journey(store, phone.call_sid)) >= 3, 30)  # what was done is kept
    # nginx goes round the servers in turn: the next request is for the one that did not answer
    # the last, so kill that one (master and workers at once).
    victim = 1 - pair.index(transport.served[-1].upstreams[0])
    survivor = pair.servers[1 - victim].port
    before = len(transport.served)
    pair.kill(victim)
    try:
        turns += [phone.press(key) for key in KEYS[1:]]
        assert all(t.error is None for t in turns), [t.error for t in turns]
        assert turns[-1].gather is not None, "the call goes on after the booking"
        _assert_call_went_through(transport.served)
        after = [one.upstreams for one in transport.served[before:]]
        # The first refused the connection and nginx passed the request on; then only the survivor.
        assert after[0] == [pair.servers[victim].port, survivor], after
        assert all(tried == [survivor] for tried in after[1:]), after
        _assert_kept_once(store, phone.call_sid, expected)
    finally:
        pair.revive(victim)
