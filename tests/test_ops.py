"""Operations: /healthz, Store.ping, batched journey events, JSON logs that hide numbers, rate limits."""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from limits.storage import MemoryStorage
from twilio.request_validator import RequestValidator

from ivr import logs, services
from ivr.phone import limits as ratelimit
from ivr.phone.limits import Limit
from ivr.store import Store
from tests.support.app import AUTH_TOKEN, BASE_URL, make_app
from tests.support.services import REDIS_URL, PrivateRedis, local_redis

pytestmark = pytest.mark.integration

NUMBER = "+447700900123"


# /healthz and Store.ping


def test_healthz_is_200_with_content_and_database_and_needs_no_signature(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["content"] == "ok" and body["database"] == "ok"
    assert body["languages"] == list(services.line(app).content.languages)
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_is_503_with_the_reason_when_the_database_is_down() -> None:
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/ivr")
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["reason"] == "database unreachable: OperationalError"
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no host or port for anyone to see


def test_healthz_only_answers_get(app: Flask) -> None:
    assert app.test_client().post("/healthz").status_code == 405


def test_ping_answers_on_each_backend_and_clears_a_remembered_outage(store: Store) -> None:
    assert store.ping() is None
    store.breaker.retry_after = 60
    store.breaker.trip("as after a failed connection")
    assert store.breaker.is_open()
    assert store.ping() is None
    assert store.record_event("CAping", "start", "main", 0) is True, "the outage was forgotten"


def test_the_first_answer_after_an_outage_says_the_database_is_back_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.store")
    store.breaker.retry_after = 0  # tried again at once, as after the outage's retry time
    store.breaker.trip("as after a failed connection")
    assert store.record_event("CAback", "start", "main", 0) is True
    assert store.record_event("CAback", "topic", "symptoms", 0) is True
    assert not store.breaker.down
    assert caplog.text.count("database unavailable") == 1 and caplog.text.count("database is back") == 1


def test_ping_says_why_when_the_database_is_away(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'missing' / 'ivr.sqlite3'}", migrate=False)
    reason = store.ping()
    assert reason is not None and "unable to open database file" in reason


# Batched journey events


def test_batched_events_are_written_soon_and_in_order(store: Store) -> None:
    store.batch_events(interval=0.02)
    for part in range(50):
        assert store.record_event("CAbatch", "next", "symptoms", part) is True
    deadline = time.monotonic() + 5
    while _event_rows(store, "CAbatch") < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _event_rows(store, "CAbatch") == 50, "the flusher thread wrote them without being asked"
    assert [e.part for e in store.events_for("CAbatch")] == list(range(50))


def test_a_read_sees_events_still_queued(store: Store) -> None:
    store.batch_events(interval=60)  # the thread would wait a minute: the read must flush
    store.record_event("CAread", "start", "main", 0)
    store.record_event("CAread", "option:2", "symptoms", 0)
    assert [e.event for e in store.events_for("CAread")] == ["start", "option:2"]


def test_events_from_many_threads_all_land_in_order_per_thread(store: Store) -> None:
    store.batch_events(interval=0.005, max_pending=7)

    def call(n: int) -> None:
        for part in range(40):
            store.record_event(f"CAthread{n}", "next", "symptoms", part)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.flush() is True
    for n in range(8):
        assert [e.part for e in store.events_for(f"CAthread{n}")] == list(range(40))


def test_a_failed_batch_is_logged_as_lost_writes_without_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.store")
    store = Store.from_url(f"sqlite:///{tmp_path / 'missing' / 'ivr.sqlite3'}")
    store.batch_events(interval=60)
    assert store.record_event("CAlost", "start", "main", 0, detail=f"said {NUMBER}") is True
    assert store.flush() is False
    assert "LOST WRITE write_batch events=1 calls=1 other=-: database unavailable" in caplog.text
    assert "7700900123" not in caplog.text


def test_call_starts_and_choices_are_batched_too_in_order(store: Store) -> None:
    from ivr.privacy import caller_hash

    store.batch_events(interval=60)
    me = caller_hash(NUMBER, "test-salt")
    assert store.save_consent(me, "n1", language="en", rate="normal")  # kept only for one who agreed
    assert store.call_started("CAdeferred", me, "en") is True
    assert store.save_prefs(me, language="hi") is True
    assert store.save_prefs(me, rate="slow") is True
    assert store.get_call("CAdeferred") is not None, "reading calls writes what is queued first"
    prefs = store.get_prefs(me)
    assert prefs is not None and (prefs.language, prefs.rate) == ("hi", "slow")


def test_one_bad_write_in_a_batch_loses_only_itself(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.store")
    store.batch_events(interval=60)
    store.record_event("CAgood", "start", "main", 0)
    store.record_event("CAbad", "start", "main", None)  # type: ignore[arg-type]  # NOT NULL column
    store.record_event("CAgood", "option:2", "symptoms", 0)
    assert store.flush() is False
    assert [e.event for e in store.events_for("CAgood")] == ["start", "option:2"]
    assert store.events_for("CAbad") == []
    assert "LOST WRITE record_event call_sid=CAbad" in caplog.text


def _event_rows(store: Store, call_sid: str) -> int:
    from sqlalchemy import text

    with store.engine.connect() as conn:
        query = text("SELECT count(*) FROM journey_events WHERE call_sid = :sid")
        return int(conn.execute(query, {"sid": call_sid}).scalar_one())


# Logs: JSON lines, CallSid, no phone numbers


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("caller +447700900123 pressed 2", "caller <number> pressed 2"),
        ("From=%2B15551234567&To=x", "From=<number>&To=x"),
        ("call me on 020 7946 0958 or (555) 123-4567", "call me on <number> or (<number>"),
        ("555.123.4567", "<number>"),
        ("glued5551234567digits", "glued<number>digits"),
        ("call=CA0123456789abcdef0123456789abcdef", "call=CA0123456789abcdef0123456789abcdef"),
        ("caller-0123456789ab and 64 hex " + "a1" * 32, "caller-0123456789ab and 64 hex " + "a1" * 32),
        ("at 2026-11-25T10:08:32 from 192.168.100.200", "at 2026-11-25T10:08:32 from 192.168.100.200"),
        ("part 3 of 12, 150 ms, 123456 bytes", "part 3 of 12, 150 ms, 123456 bytes"),
    ],
)
def test_mask_numbers(text: str, masked: str) -> None:
    assert logs.mask_numbers(text) == masked


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.unit
def test_json_lines_with_level_logger_and_masked_message(log_stream: io.StringIO) -> None:
    logging.getLogger("ivr.test").warning("caller %s said %r", NUMBER, "hello\nworld")
    try:
        raise ValueError(f"bad number {NUMBER}")
    except ValueError:
        logging.getLogger("ivr.test").exception("it failed")
    first, second = _json_lines(log_stream)
    assert first["level"] == "WARNING" and first["logger"] == "ivr.test"
    assert first["message"] == "caller <number> said 'hello\\nworld'"
    assert "CallSid" not in first
    assert second["level"] == "ERROR" and "ValueError: bad number <number>" in str(second["exc"])
    assert "7700900123" not in log_stream.getvalue()


def _keep_environs(app: Flask) -> list[dict[str, Any]]:
    """The WSGI environ of every request the app gets from now on: what gunicorn's access log is given."""
    seen: list[dict[str, Any]] = []
    inner = app.wsgi_app

    def keep_environ(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ)
        return inner(environ, start_response)

    app.wsgi_app = keep_environ  # type: ignore[method-assign]
    return seen


def test_a_webhook_tells_the_access_log_what_it_did(log_stream: io.StringIO) -> None:
    app = make_app()
    form = {"CallSid": "CAjson0123", "From": NUMBER, "To": "+15005550001"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + "/voice", form)
    seen = _keep_environs(app)
    response = app.test_client().post("/voice", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    step = seen[0][logs.STEP_ENVIRON]
    assert step["CallSid"] == "CAjson0123" and step["caller"].startswith("caller-")
    assert (step["node"], step["part"]) == ("_language", 0) and step["event"]
    assert "7700900123" not in log_stream.getvalue()


@pytest.mark.unit
def test_the_access_line_carries_the_call_and_masks_numbers() -> None:
    stream = io.StringIO()
    handler = logs.LineHandler(stream, "json")
    step = {
        "CallSid": "CAjson0123",
        "caller": "caller-0123456789ab",
        "event": "menu",
        "node": NUMBER,
        "part": 2,
    }
    atoms = {"m": "POST", "U": "/voice/step", "s": "200", "D": 900, "r": "POST /voice/step HTTP/1.1"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s %(s)s", (), None)
    record.args = {**atoms, "{" + logs.STEP_ENVIRON + "}e": step}
    handler.handle(record)
    (entry,) = _json_lines(stream)
    assert entry["CallSid"] == "CAjson0123"
    assert entry["call"] == {
        "caller": "caller-0123456789ab",
        "event": "menu",
        "node": "<number>",
        "part": "2",
    }
    assert entry["http"] == {"method": "POST", "path": "/voice/step", "status": "200", "ms": 0.9}


@pytest.mark.unit
def test_text_format_is_masked_too() -> None:
    stream = io.StringIO()
    handler = logs.LineHandler(stream, "text")
    record = logging.LogRecord("ivr.test", logging.INFO, __file__, 1, "from %s", (NUMBER,), None)
    handler.handle(record)
    assert stream.getvalue().rstrip().endswith("INFO ivr.test: from <number>")


@pytest.mark.unit
def test_an_unknown_log_format_refuses_to_start() -> None:
    with pytest.raises(SystemExit, match="LOG_FORMAT must be one of json, text"):
        logs.configure("yaml")


@pytest.mark.unit
def test_gunicorn_access_records_get_http_fields() -> None:
    stream = io.StringIO()
    handler = logs.LineHandler(stream, "json")
    atoms = {"m": "POST", "U": "/voice/step", "s": "200", "D": 1534, "r": "POST /voice/step HTTP/1.1"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s %(s)s", (), None)
    record.args = atoms
    handler.handle(record)
    (entry,) = _json_lines(stream)
    assert entry["message"] == "POST /voice/step HTTP/1.1 200"
    assert entry["http"] == {"method": "POST", "path": "/voice/step", "status": "200", "ms": 1.53}


# Rate limits


def _limited_app(**overrides: object) -> Flask:
    config: dict[str, object] = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_CALLER_BURST": 3,
        "RATELIMIT_CALLER_PER_MINUTE": 1,
        "RATELIMIT_IP_BURST": 1000,
        "RATELIMIT_IP_PER_MINUTE": 60000,
    }
    config.update(overrides)
    return make_app(**config)


def _post(
    app: Flask, path: str, caller: str, *, signed: bool = True, call_sid: str = "CArl"
) -> tuple[int, str]:
    form = {"CallSid": call_sid, "From": caller, "To": "+15005550001"}
    headers = {}
    if signed:
        headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + path, form)
    response = app.test_client().post(path, data=form, headers=headers)
    return response.status_code, response.get_data(as_text=True)


def _is_busy(body: str) -> bool:
    root = ET.fromstring(body)
    return [child.tag for child in root] == ["Say", "Hangup"] and "busy" in (root[0].text or "")


def test_a_caller_over_the_limit_hears_busy_then_the_call_ends(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.ratelimit")
    app = _limited_app()
    step = "/voice/step?n=main&p=0&s=0&m=0&l=en"
    replies = [_post(app, step, NUMBER) for _ in range(5)]
    assert [status for status, _ in replies] == [200] * 5
    assert [_is_busy(body) for _, body in replies] == [False, False, False, True, True]
    assert "rate limited: caller caller-" in caplog.text and "1/min (burst 3)" in caplog.text
    assert "7700900123" not in caplog.text
    # Another caller is not affected; the status callback is never refused.
    assert not _is_busy(_post(app, step, "+447700900999")[1])
    assert _post(app, "/voice/status", NUMBER)[0] == 204


def test_a_refused_webhooks_access_line_names_the_call_and_the_refusal() -> None:
    app = _limited_app()
    seen = _keep_environs(app)
    replies = [_post(app, "/voice/step?n=main&l=en", NUMBER, call_sid="CAbusy0001") for _ in range(4)]
    assert _is_busy(replies[-1][1])
    step = seen[-1][logs.STEP_ENVIRON]
    assert step["CallSid"] == "CAbusy0001" and step["caller"].startswith("caller-")
    assert step["event"] == "busy:rate-limited"


def test_forged_requests_cannot_use_up_a_callers_allowance() -> None:
    app = _limited_app()
    for _ in range(10):
        assert _post(app, "/voice", NUMBER, signed=False)[0] == 403
    status, body = _post(app, "/voice", NUMBER)
    assert status == 200 and not _is_busy(body)


def test_withheld_numbers_get_an_allowance_per_call() -> None:
    app = _limited_app()
    for _ in range(3):
        _post(app, "/voice", "anonymous", call_sid="CAanon1")
    assert _is_busy(_post(app, "/voice", "anonymous", call_sid="CAanon1")[1])
    assert not _is_busy(_post(app, "/voice", "anonymous", call_sid="CAanon2")[1])
    assert not _is_busy(_post(app, "/voice", "+266696687", call_sid="CAanon3")[1])


def test_an_ip_over_its_limit_is_refused_before_the_signature_check(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.ratelimit")
    app = _limited_app(RATELIMIT_IP_BURST=4, RATELIMIT_IP_PER_MINUTE=1)
    statuses = [_post(app, "/voice", f"+1555000{n:04d}", signed=False)[0] for n in range(4)]
    assert statuses == [403] * 4
    status, body = _post(app, "/voice", "+15550009999")
    assert status == 200 and _is_busy(body)
    assert "rate limited: client 127.0.0.1" in caplog.text
    assert app.test_client().get("/healthz").status_code == 200, "only the webhooks are limited"


def test_the_busy_reply_is_in_the_calls_language() -> None:
    app = _limited_app(RATELIMIT_CALLER_BURST=1)
    step = "/voice/step?n=main&p=0&s=0&m=0&l=hi"
    _post(app, step, NUMBER)
    _, body = _post(app, step, NUMBER)
    say = ET.fromstring(body)[0]
    prompts = services.line(app).content.prompts
    expected = prompts["hi"] if getattr(prompts["hi"].phrases, "busy", None) else prompts["en"]
    assert (say.get("voice"), say.get("language")) == (expected.voice, expected.language)


def _post_from(
    app: Flask, peer: str, forwarded_for: str | None = None, *, path: str = "/voice", signed_for: str = ""
) -> tuple[int, str]:
    """A signed /voice from `peer`, with X-Forwarded-For when given (signed for `signed_for` + path)."""
    form = {"CallSid": "CAproxy", "From": NUMBER, "To": "+15005550001"}
    url = (signed_for or BASE_URL) + path
    headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    response = app.test_client().post(path, data=form, headers=headers, environ_base={"REMOTE_ADDR": peer})
    return response.status_code, response.get_data(as_text=True)


def test_behind_proxies_the_client_is_read_from_x_forwarded_for(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.ratelimit")
    app = _limited_app(RATELIMIT_PROXY_HOPS=1, RATELIMIT_IP_BURST=1, RATELIMIT_IP_PER_MINUTE=1)
    proxy = "10.0.0.1"
    assert not _is_busy(_post_from(app, proxy, "203.0.113.9, 198.51.100.7")[1])
    assert _is_busy(_post_from(app, proxy, "192.0.2.1, 198.51.100.7")[1]), "the last hop is the client"
    assert "rate limited: client 198.51.100.7" in caplog.text
    assert not _is_busy(_post_from(app, proxy, "198.51.100.8")[1]), "another client behind the same proxy"
    # Fewer addresses than trusted hops: the peer is the client (as in werkzeug's ProxyFix).
    two_hops = _limited_app(RATELIMIT_PROXY_HOPS=2, RATELIMIT_IP_BURST=1, RATELIMIT_IP_PER_MINUTE=1)
    assert not _is_busy(_post_from(two_hops, proxy, "203.0.113.9, 198.51.100.7")[1])
    assert _is_busy(_post_from(two_hops, "10.0.0.9", "203.0.113.9, 192.0.2.1")[1]), "2 hops: 203.0.113.9"
    assert not _is_busy(_post_from(two_hops, proxy, "192.0.2.2")[1])
    assert _is_busy(_post_from(two_hops, proxy, "192.0.2.3")[1]), "one address, two hops: the peer's"


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted() -> None:
    app = _limited_app(RATELIMIT_IP_BURST=1, RATELIMIT_IP_PER_MINUTE=1)
    assert not _is_busy(_post_from(app, "10.0.0.1", "203.0.113.9")[1])
    assert _is_busy(_post_from(app, "10.0.0.1", "198.51.100.7")[1]), "counted against the peer"


def test_behind_proxies_the_signed_url_is_still_the_requested_one() -> None:
    # Only X-Forwarded-For is trusted: a forwarded scheme or host never changes the URL a signature
    # is checked against, so a signature for another URL stays refused.
    app = _limited_app(RATELIMIT_PROXY_HOPS=1)
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "443"}
    form = {"CallSid": "CAproxy", "From": NUMBER, "To": "+15005550001"}
    client = app.test_client()
    for url, status in ((BASE_URL + "/voice", 200), ("https://evil.example/voice", 403)):
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        response = client.post(
            "/voice",
            data=form,
            headers={"X-Twilio-Signature": signature, "X-Forwarded-For": "198.51.100.7", **forged},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        assert response.status_code == status, url


def test_behind_a_local_proxy_the_dev_switch_skips_no_signature() -> None:
    # IVR_DEV_SKIP_SIGNATURE is for a developer's own requests straight to the app: behind a proxy on
    # this machine every client looks local, so with proxy hops set nothing skips the check, not even
    # a request that says it was forwarded for 127.0.0.1.
    app = _limited_app(RATELIMIT_PROXY_HOPS=1, DEV_SKIP_SIGNATURE=True)
    form = {"CallSid": "CAdev", "From": NUMBER}
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for forwarded_for in ("198.51.100.7", "127.0.0.1"):
        response = app.test_client().post(
            "/voice", data=form, headers={"X-Forwarded-For": forwarded_for}, environ_base=proxy
        )
        assert response.status_code == 403, forwarded_for


def test_proxy_hops_below_zero_stop_the_app() -> None:
    with pytest.raises(SystemExit, match="IVR_PROXY_HOPS"):
        make_app(RATELIMIT_PROXY_HOPS=-1)


def test_rate_limiting_can_be_turned_off() -> None:
    app = _limited_app(RATELIMIT_ENABLED=False)
    assert services.limits(app) is None
    assert not any(_is_busy(_post(app, "/voice", NUMBER)[1]) for _ in range(6))


@pytest.mark.parametrize(
    ("burst", "per_minute", "amount", "seconds"),
    [(30, 60, 30, 30), (1000, 12000, 1000, 5), (3, 1, 3, 180), (1, 600, 10, 1), (10, 7, 10, 86)],
)
def test_a_limit_is_its_burst_in_the_time_the_rate_takes_to_earn_it(
    burst: int, per_minute: float, amount: int, seconds: int
) -> None:
    window = Limit(burst, per_minute).window
    assert (window.amount, window.get_expiry()) == (amount, seconds)
    assert abs(amount / seconds * 60 - per_minute) / per_minute < 0.02, "the long-run rate is kept"


def _caller_limits(burst: int, per_minute: float, redis_url: str | None = None) -> ratelimit.RateLimits:
    """A worker's limits with this caller allowance, counted in Redis at `redis_url` or in memory."""
    found = ratelimit.from_config(
        {
            "REDIS_URL": redis_url,
            "RATELIMIT_CALLER_BURST": burst,
            "RATELIMIT_CALLER_PER_MINUTE": per_minute,
            "RATELIMIT_IP_BURST": 1,
            "RATELIMIT_IP_PER_MINUTE": 1,
        }
    )
    assert found is not None
    return found


def test_local_counts_let_a_caller_back_in_at_the_rate_however_often_refused() -> None:
    limits = _caller_limits(burst=2, per_minute=120)  # two a second
    assert limits.counters.shared is None, "no REDIS_URL: this worker's own counts"
    assert [limits.allow(limits.caller, "k") for _ in range(3)] == [True, True, False]
    assert not any(limits.allow(limits.caller, "k") for _ in range(20)), "refusals count for nothing"
    time.sleep(1.5)
    assert limits.allow(limits.caller, "k")
    assert limits.allow(limits.caller, "other"), "each key has its own allowance"


def test_local_counts_are_forgotten_when_their_windows_end() -> None:
    limits = _caller_limits(burst=1, per_minute=60)  # one a second: each count is kept 2 s at most
    for n in range(1000):
        limits.allow(limits.caller, f"k{n}")
    storage = limits.counters.local.storage
    assert isinstance(storage, MemoryStorage)
    assert len(storage.storage) >= 1000
    time.sleep(2.2)
    limits.allow(limits.caller, "late")  # a count wakes limits' expiry timer
    deadline = time.monotonic() + 2
    while len(storage.storage) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(storage.storage) <= 1, "a worker's memory holds only the counts of the last windows"


# Rate limits in Redis (the real server on 127.0.0.1:6379), shared by every worker


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis; fails if it is not running (IVR_SKIP_REDIS=1 skips on purpose)."""
    client = local_redis()
    yield REDIS_URL
    client.close()


def test_redis_counts_are_shared_between_workers_and_expire(redis_url: str) -> None:
    key = f"test:{secrets.token_hex(6)}"
    one, two = (_caller_limits(redis_url=redis_url, burst=4, per_minute=1) for _ in range(2))  # two workers
    allowed = [(one if n % 2 else two).allow(one.caller, key) for n in range(6)]
    assert allowed == [True, True, True, True, False, False]
    client = local_redis()
    stored = list(client.scan_iter(match=ratelimit.REDIS_PREFIX + "*" + key + "*"))
    assert stored, "the counts are in Redis, under the line's prefix"
    window_ms = 4 * 60 * 1000
    assert all(0 < client.pttl(name) <= 2 * window_ms for name in stored), "keys expire"
    client.close()


def test_redis_counts_let_a_caller_back_in_at_the_rate_however_often_refused(redis_url: str) -> None:
    key = f"test:{secrets.token_hex(6)}"
    limits = _caller_limits(redis_url=redis_url, burst=1, per_minute=60)  # one a second
    assert limits.allow(limits.caller, key)
    assert not any(limits.allow(limits.caller, key) for _ in range(10)), "refusals count for nothing"
    time.sleep(1.5)
    assert limits.allow(limits.caller, key)


def test_the_app_limits_callers_in_redis(redis_url: str) -> None:
    caller = f"+4477009{secrets.randbelow(10**5):05d}"
    first, second = (_limited_app(REDIS_URL=redis_url) for _ in range(2))  # like two gunicorn workers
    busy = [_is_busy(_post(first if n % 2 else second, "/voice", caller)[1]) for n in range(5)]
    assert busy == [False, False, False, True, True]


def test_without_redis_each_worker_counts_on_its_own_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="ivr.ratelimit")
    limits = _caller_limits(redis_url="redis://127.0.0.1:1/0", burst=2, per_minute=1)
    started = time.monotonic()
    assert [limits.allow(limits.caller, "k") for _ in range(3)] == [True, True, False]
    assert time.monotonic() - started < 1.5
    assert caplog.text.count("Redis unavailable") == 1, "one report per outage, not one per request"


def test_when_redis_fails_a_worker_counts_on_its_own_and_goes_back_to_redis(
    caplog: pytest.LogCaptureFixture, private_redis: PrivateRedis
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.ratelimit")
    # Two workers on the same Redis.
    one, two = (_caller_limits(redis_url=private_redis.url, burst=3, per_minute=1) for _ in range(2))
    breaker = one.counters.breaker
    assert breaker is not None
    breaker.retry_after = 0.2
    assert one.allow(one.caller, "before")
    private_redis.stop()
    started = time.monotonic()
    assert [one.allow(one.caller, "mine") for _ in range(4)] == [True, True, True, False]
    assert time.monotonic() - started < 1.5, "no request waits on the dead Redis for long"
    assert breaker.down and caplog.text.count("rate limits: Redis unavailable") == 1
    private_redis.start()  # empty: what it counted before is lost with it
    time.sleep(0.3)  # the breaker's retry_after
    assert [one.allow(one.caller, "after") for _ in range(3)] == [True, True, True]
    assert not breaker.down and caplog.text.count("rate limits: Redis is back") == 1
    assert not two.allow(two.caller, "after"), "counted in Redis again, for every worker"
    assert one.allow(one.caller, "mine"), "back in Redis, where 'mine' was never counted"
