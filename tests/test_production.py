"""`bin/production`: nginx in front of gunicorn, as the line runs on a server. Slow clients cannot
stall callers (and do stall gunicorn on its own), TLS is terminated with a certificate, a client's
X-Forwarded-For cannot change the address the rate limits count, nginx's own refusals carry the
security headers, and the script starts from the repository and stops cleanly."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ivr.simulator.server import Gunicorn, free_port
from ivr.web.site import CSP, HSTS
from tests.support.over_http import wait_until
from tests.support.production import (
    Production,
    Reply,
    SlowClients,
    app_out_of_reach,
    app_server,
    head_of,
    raw_exchange,
    request,
    self_signed_certificate,
    signed_voice,
)
from tests.support.server_logs import ServerLogs
from tests.support.twiml import assert_valid_twiml, verbs

pytestmark = [pytest.mark.system, pytest.mark.slow]

# The bound: a caller's webhook is answered within this many seconds during the attack.
ANSWER_WITHIN = 2.0
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _menu(reply: Reply) -> bool:
    """Whether a /voice reply is the line's first menu: TwiML with a <Gather> (not the busy message)."""
    if reply.status != 200:
        return False
    assert_valid_twiml(reply.body)
    return "Gather" in verbs(reply.twiml())


def _has_security_headers(headers: dict[str, str]) -> bool:
    return all(headers.get(name) == value for name, value in SECURITY_HEADERS.items())


# ---------------------------------------------------------------- slow clients


def test_slow_clients_through_nginx_do_not_stall_callers(tmp_path: Path) -> None:
    with Production(tmp_path, workers=2) as line, SlowClients(line.port, headers=24, bodies=24) as attack:
        time.sleep(2)  # every slow connection open, a few bytes in
        assert attack.opened >= 48
        replies = [signed_voice(line.base_url + "/voice", line.public_url + "/voice") for _ in range(10)]
    slowest = max(reply.seconds for reply in replies)
    assert all(_menu(reply) for reply in replies), [(r.status, r.body[:200]) for r in replies]
    assert slowest < ANSWER_WITHIN, f"a /voice took {slowest:.2f} s behind nginx with 48 slow clients"


def test_the_same_slow_clients_stall_gunicorn_on_its_own(tmp_path: Path) -> None:
    # Why nginx is there: 2 sync workers, each held by a slow client, and a caller waits behind them.
    env = {
        "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
        "PUBLIC_BASE_URL": "http://localhost",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'line.db'}",
        "IVR_HASH_SALT": "production-test-salt",
        "IVR_SECRET_KEY": "production-test-secret",
    }
    with Gunicorn("app:app", workers=2, env=env, log_path=tmp_path / "gunicorn.log") as server:
        first = signed_voice(server.base_url + "/voice", "http://localhost/voice")
        assert _menu(first)  # the line works when nobody is in the way
        with SlowClients(server.port, headers=24, bodies=24):
            time.sleep(2)
            with pytest.raises(TimeoutError):
                signed_voice(server.base_url + "/voice", "http://localhost/voice", timeout=ANSWER_WITHIN)


# ---------------------------------------------------------------- TLS


def test_nginx_terminates_tls_and_refuses_webhooks_over_plain_http(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    with Production(tmp_path, tls=(cert, key)) as line:
        assert line.public_url.startswith("https://localhost:")
        over_tls = signed_voice(line.public_url + "/voice", line.public_url + "/voice", context=line.context)
        assert _menu(over_tls)
        assert over_tls.headers.get("strict-transport-security") == HSTS
        assert _has_security_headers(over_tls.headers)
        # The same signed request over plain HTTP: refused, never passed to the app.
        plain = signed_voice(line.base_url + "/voice", line.public_url + "/voice")
        assert plain.status == 403
        assert _has_security_headers(plain.headers)
        # A browser on plain HTTP is sent to HTTPS.
        page = request(line.base_url + "/healthz")
        assert page.status == 301
        assert page.headers["location"] == f"https://127.0.0.1:{line.tls_port}/healthz"
        # nginx's own refusal over TLS (a body over 64 KiB) carries HSTS too.
        big = request(line.public_url + "/voice", "POST", b"a" * 70_000, context=line.context)
        assert big.status == 413
        assert big.headers.get("strict-transport-security") == HSTS
        assert _has_security_headers(big.headers)
    assert line.process is not None and line.process.returncode == 0


# ---------------------------------------------------------------- X-Forwarded-For


def test_a_client_sent_x_forwarded_for_does_not_change_the_address_rate_limits_count(tmp_path: Path) -> None:
    limits = {"IVR_RATELIMIT_IP_BURST": "3", "IVR_RATELIMIT_IP_PER_MINUTE": "1"}
    with Production(tmp_path, workers=1, env=limits) as line:
        replies = [
            signed_voice(
                line.base_url + "/voice",
                line.public_url + "/voice",
                headers={"X-Forwarded-For": f"203.0.113.{n}", "Forwarded": f"for=198.51.100.{n}"},
            )
            for n in range(6)
        ]
    # One address (the test's) gets its burst of 3 calls; the rest hear that the line is busy.
    assert [_menu(reply) for reply in replies] == [True] * 3 + [False] * 3
    assert all(reply.status == 200 for reply in replies)


# ---------------------------------------------------------------- nginx's own responses


def test_nginx_refusals_and_gateway_errors_carry_the_security_headers(tmp_path: Path) -> None:
    with Production(tmp_path) as line:
        big_head = b"POST /voice HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n"
        too_big = raw_exchange(line.port, big_head + b"a" * 70_000)
        no_host = raw_exchange(line.port, b"GET /healthz HTTP/1.1\r\n\r\n")
        long_line = raw_exchange(line.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        # gunicorn gone, as nginx sees it: its socket is no longer where nginx connects.
        with app_out_of_reach(line):
            gone = request(line.base_url + "/healthz")
        back = request(line.base_url + "/healthz")
    for raw, status in ((too_big, 413), (no_host, 400), (long_line, 414)):
        code, headers = head_of(raw)
        assert code == status, raw[:300]
        assert _has_security_headers(headers), headers
    assert gone.status == 502
    assert _has_security_headers(gone.headers)
    # A proxied response carries the app's headers once, not nginx's on top.
    assert back.status == 200
    assert _has_security_headers(back.headers)
    assert "strict-transport-security" not in back.headers


# ---------------------------------------------------------------- the script


def test_bin_production_serves_through_nginx_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    line = Production(tmp_path).start()
    try:
        health = request(line.base_url + "/healthz")
        assert health.status == 200 and health.headers["server"] == "nginx"
        assert set(line.children()) == {"nginx", "gunicorn"}
        assert line.stop() == 0
        assert wait_until(lambda: not line.alive_in_session(), 30), "nginx or gunicorn left running"
        assert not line.socket_path.exists() and not (line.run_dir / "nginx.pid").exists()
    finally:
        line.kill()


def test_bin_production_stops_nginx_and_exits_non_zero_when_gunicorn_dies(tmp_path: Path) -> None:
    with Production(tmp_path) as line:
        os.kill(line.children()["gunicorn"], signal.SIGKILL)
        assert line.process is not None
        line.process.wait(60)  # a supervisor (deploy/ivr.service) then starts it again
        assert line.process.returncode == 1, line.log()
        # gunicorn's orphaned workers notice their master is gone at their next wake-up (15 s).
        assert wait_until(lambda: not line.alive_in_session(), 90), "nginx left running without the app"


# ---------------------------------------------------------------- a front machine (IVR_APP_SERVERS)


@pytest.mark.parametrize(
    ("servers", "refused"),
    [
        ("127.0.0.1:8001 localhost", "localhost"),
        ("127.0.0.1:8001,http://10.0.0.3:8000", "http://10.0.0.3:8000"),
        ("10.0.0.2:port", "10.0.0.2:port"),
    ],
)
def test_a_bad_app_server_address_stops_bin_production_before_anything_starts(
    tmp_path: Path, servers: str, refused: str
) -> None:
    line = Production(tmp_path, env={"IVR_APP_SERVERS": servers})
    try:
        assert line.run() == 2, line.log()
        assert f"production: IVR_APP_SERVERS must be host:port addresses, not '{refused}'" in line.log()
        # Nothing was started: no nginx (its pid file, its port) and no gunicorn (its socket).
        assert not line.alive_in_session()
        assert not (line.run_dir / "nginx.pid").exists() and not line.socket_path.exists()
        with pytest.raises(ConnectionRefusedError):
            request(line.base_url + "/healthz", timeout=5)
    finally:
        line.kill()


def test_a_front_machine_serves_through_its_app_servers_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    public_url = f"http://localhost:{port}"
    with app_server(tmp_path, "app-1", public_url) as one, app_server(tmp_path, "app-2", public_url) as two:
        servers = f"127.0.0.1:{one.port}, 127.0.0.1:{two.port}"
        line = Production(tmp_path / "front", port=port, env={"IVR_APP_SERVERS": servers}).start()
        try:
            assert set(line.children()) == {"nginx"}  # no gunicorn on the front machine
            assert not line.socket_path.exists()
            replies = [signed_voice(line.base_url + "/voice", line.public_url + "/voice") for _ in range(10)]
            assert all(_menu(reply) for reply in replies), [(r.status, r.body[:200]) for r in replies]
            assert all(reply.headers["server"] == "nginx" for reply in replies)
            # Answered by the app servers behind it, both of them (more calls than nginx has
            # workers: one worker passed on two, one to each server): their access lines hold all.
            logs = ServerLogs.of([one, two])
            assert wait_until(lambda: logs.count(0, "/voice") + logs.count(1, "/voice") == 10, 30)
            assert logs.count(0, "/voice") >= 1 and logs.count(1, "/voice") >= 1
            assert line.stop() == 0, line.log()
            assert wait_until(lambda: not line.alive_in_session(), 30), "nginx left running"
            assert not (line.run_dir / "nginx.pid").exists()
            with pytest.raises(ConnectionRefusedError):
                request(line.base_url + "/healthz", timeout=5)
            # The app servers are other machines' business: still serving.
            assert request(one.base_url + "/healthz").status == 200
            assert request(two.base_url + "/healthz").status == 200
        finally:
            line.kill()


def test_a_front_machine_answers_every_call_with_one_of_two_app_servers_down(tmp_path: Path) -> None:
    port = free_port()
    public_url = f"http://localhost:{port}"
    with app_server(tmp_path, "app-1", public_url) as up, app_server(tmp_path, "app-2", public_url) as down:
        servers = f"127.0.0.1:{up.port} 127.0.0.1:{down.port}"
        with Production(tmp_path / "front", port=port, env={"IVR_APP_SERVERS": servers}) as line:
            # Stopped once the front is serving: nginx finds out from the calls themselves.
            down.stop()
            with pytest.raises(ConnectionRefusedError):
                request(down.base_url + "/healthz", timeout=5)
            # More calls than nginx has workers: at least one worker tries the stopped server.
            replies = [signed_voice(line.base_url + "/voice", line.public_url + "/voice") for _ in range(10)]
    assert all(_menu(reply) for reply in replies), [(r.status, r.body[:200]) for r in replies]
    # All ten answered by the server that is up (its access lines), once each.
    assert ServerLogs.of([up]).count(0, "/voice") == 10, up.log()
