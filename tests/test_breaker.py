"""The circuit breaker (ivr/breaker.py): down until T, tried again after, one log line each way."""

from __future__ import annotations

import logging
import threading

import pytest

from ivr.breaker import Breaker

log = logging.getLogger("ivr.test.breaker")
pytestmark = pytest.mark.unit


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class DownError(Exception):
    pass


def _breaker(clock: Clock, retry_after: float = 5.0) -> Breaker:
    return Breaker("test: Redis", retry_after=retry_after, log=log, while_down="counting here", clock=clock)


def test_closed_until_it_fails_then_open_for_retry_after_then_tried_again() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    assert not breaker.is_open() and breaker.remaining() == 0.0 and not breaker.down
    breaker.trip("ConnectionError: refused")
    assert breaker.is_open() and breaker.remaining() == 5.0 and breaker.down
    clock.now += 4.5
    assert breaker.is_open() and breaker.remaining() == pytest.approx(0.5)
    clock.now += 0.5
    assert not breaker.is_open() and breaker.remaining() == 0.0, "may be tried again"
    assert breaker.down, "but not known to be back until it answers"
    breaker.succeeded()
    assert not breaker.down and not breaker.is_open()


def test_one_log_line_when_it_opens_and_one_when_it_closes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.test.breaker")
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):  # failing again on each retry: still one outage
        breaker.trip("ConnectionError: refused")
        clock.now += 5
    breaker.succeeded()
    breaker.succeeded()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "test: Redis unavailable (ConnectionError: refused); counting here (next try in 5 s)"),
        ("INFO", "test: Redis is back"),
    ]
    breaker.trip("TimeoutError")
    assert caplog.records[-1].getMessage().startswith("test: Redis unavailable (TimeoutError)"), "new outage"


def test_an_answer_closes_it_at_once_even_before_retry_after() -> None:
    # As the store's ping does: the service answered, so nobody needs to wait out the rest.
    clock = Clock()
    breaker = _breaker(clock)
    breaker.trip("x")
    breaker.succeeded()
    assert not breaker.is_open() and breaker.remaining() == 0.0


def test_call_falls_back_while_open_and_on_the_given_errors_only() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    tried: list[str] = []

    def failing() -> str:
        tried.append("shared")
        raise DownError("refused")

    def working() -> str:
        tried.append("shared")
        return "shared"

    assert breaker.call(failing, lambda: "local", DownError) == "local"
    assert breaker.call(working, lambda: "local", DownError) == "local", "open: not tried"
    assert tried == ["shared"]
    clock.now += 5
    assert breaker.call(working, lambda: "local", DownError) == "shared"
    assert not breaker.down

    def broken() -> str:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        breaker.call(broken, lambda: "local", DownError)
    assert not breaker.down


def test_with_no_retry_after_it_is_always_tried_and_still_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.test.breaker")
    breaker = _breaker(Clock(), retry_after=0)
    tried = 0

    def failing() -> str:
        nonlocal tried
        tried += 1
        raise DownError("refused")

    assert [breaker.call(failing, lambda: "local", DownError) for _ in range(3)] == ["local"] * 3
    assert tried == 3 and not breaker.is_open()
    expected = "test: Redis unavailable (DownError: refused); counting here"
    assert [r.getMessage() for r in caplog.records] == [expected]


def test_a_negative_retry_after_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_after"):
        _breaker(Clock(), retry_after=-1)


def test_threads_failing_together_report_one_outage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.test.breaker")
    breaker = Breaker("test: Redis", retry_after=0, log=log)
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(200):
            breaker.trip("refused")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(caplog.records) == 1
