"""The line scaled out as operators run it: two gunicorn masters (app servers) behind a front
machine's `bin/production` with IVR_APP_SERVERS naming them, sharing one PostgreSQL database and
one Redis; a phone and a staff browser. Which server answered each webhook is read from the
servers' own logs (tests/support/server_logs.py). Only the processes started here are ever
signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ivr import services
from ivr.config import REPO_ROOT
from ivr.simulator import FlaskTransport, HttpTransport, Phone
from ivr.simulator.server import Gunicorn, free_port
from ivr.store import Store
from tests.support.app import AUTH_TOKEN as TEST_TOKEN
from tests.support.app import BASE_URL, answer, indian_mobile, make_app
from tests.support.over_http import StaffBrowser, wait_until
from tests.support.production import Production, request
from tests.support.server_logs import ServerLogs
from tests.support.services import PrivateRedis
from tests.support.web import csrf_token

AUTH_TOKEN = "scale-out-auth-token-0123456789ab"
# Every server must share these: the session cookie and CSRF tokens (SECRET_KEY), callers' hashes
# (HASH_SALT) and Twilio's signatures (TWILIO_AUTH_TOKEN against PUBLIC_BASE_URL).
SHARED_SECRETS = {
    "IVR_SECRET_KEY": "scale-out-secret-key",
    "IVR_HASH_SALT": "scale-out-salt",
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
}
# A caller's allowance, small enough to use up in a test and large enough for a whole call: 20
# requests in 20 minutes (burst 20 at 1 a minute), so the window does not roll over during a test.
CALLER_BURST = 20
CALLER_PER_MINUTE = 1


@dataclass
class Served:
    """One request as the client saw it: its URL, status and body."""

    url: str
    status: int
    body: str


class RecordingTransport(HttpTransport):
    """The phone's HTTP transport, keeping every request with what it got."""

    def __init__(self, timeout: float = 60.0) -> None:
        super().__init__(timeout)
        self.served: list[Served] = []

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        """POST over HTTP; the reply is kept in `served`."""
        status, text = super().post(url, params, headers)
        self.served.append(Served(url, status, text))
        return status, text


class PageBrowser(StaffBrowser):
    """A staff browser that reads pages too; its cookies go to every port of 127.0.0.1."""

    def page(self, path: str, base_url: str | None = None) -> tuple[int, str]:
        """GET a page (from `base_url` when given): its status and HTML."""
        try:
            with self.opener.open((base_url or self.base_url) + path, timeout=60) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def log_in_at(self, base_url: str, username: str, password: str) -> int:
        """Log in through the form of the server at `base_url` (the form fetched from the same one):
        the POST's status (200 after the redirect to the dashboard, 401 wrong, 429 locked out)."""
        status, html = self.page("/staff/login", base_url)
        assert status == 200, html[:500]
        form = urlencode({"username": username, "password": password, "csrf_token": csrf_token(html)})
        try:
            with self.opener.open(base_url + "/staff/login", data=form.encode(), timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code


class ScaleOut:
    """Two app servers (gunicorn masters, `workers` each) behind a front machine's `bin/production`
    (IVR_APP_SERVERS: nginx only, its config from deploy/), on one database and Redis.

    Every server has the same settings: DATABASE_URL, REDIS_URL, the SHARED_SECRETS, one trusted
    proxy hop and PUBLIC_BASE_URL = the front's address (where Twilio's signatures are made).
    `logs` reads what each server logged (server i is `servers[i]`).
    """

    def __init__(self, root: Path, database_url: str, redis: PrivateRedis, workers: int = 2) -> None:
        self.root = root
        front_port = free_port()
        self.env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            **SHARED_SECRETS,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{front_port}",
            "IVR_PROXY_HOPS": "1",
            "IVR_SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback: the cookie must be sent
            "IVR_RATELIMIT_CALLER_BURST": str(CALLER_BURST),
            "IVR_RATELIMIT_CALLER_PER_MINUTE": str(CALLER_PER_MINUTE),
            "LOG_FORMAT": "json",
        }
        self.servers = [
            Gunicorn(workers=workers, env=self.env, log_path=root / f"gunicorn-{i}.log", start_timeout=120)
            for i in range(2)
        ]
        self.logs = ServerLogs.of(self.servers)
        app_servers = ",".join(f"127.0.0.1:{s.port}" for s in self.servers)
        self.front = Production(root / "front", port=front_port, env={"IVR_APP_SERVERS": app_servers})

    @property
    def base_url(self) -> str:
        """The front machine's address: the line's public address."""
        return self.front.base_url

    def start(self) -> ScaleOut:
        """Start both servers (each migrates the shared database at start-up), then the front."""
        for server in self.servers:
            server.start()
        self.front.start()
        return self

    def stop(self) -> None:
        """Stop the front (SIGTERM to bin/production) and both servers."""
        self.front.stop()
        self.front.kill()
        for server in self.servers:
            server.stop()

    def phone(self, caller: str) -> tuple[Phone, RecordingTransport]:
        """A caller's phone, through the front, and the transport that keeps what each request got."""
        transport = RecordingTransport()
        return Phone(transport, base_url=self.base_url, auth_token=AUTH_TOKEN, caller=caller), transport

    def kill(self, index: int) -> None:
        """SIGKILL one server's master and workers at once, as a machine that dies: nothing is
        finished or flushed. Returns when every one of them has exited."""
        server = self.servers[index]
        assert server.process is not None
        workers = server.worker_pids()
        for pid in [server.process.pid, *workers]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.process.wait(30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)

    def revive(self, index: int, timeout: float = 60) -> None:
        """Start a killed server again on its port (its log until the kill is kept beside the new
        one, as `.killed`) and put it back in the front's rotation: nginx reloaded, then /healthz
        asked through the front until both servers have answered one."""
        server = self.servers[index]
        log = self.logs.paths[index]
        log.replace(log.with_name(log.name + ".killed"))
        server.start()
        # Counted by user agent: the server's own start-up asked /healthz straight, not through the front.
        agent = "scale-out-revive"
        before = [self.logs.count(i, "/healthz", agent) for i in range(len(self.servers))]
        self.front.reload()

        def both_answered() -> bool:
            with suppress(OSError):
                request(self.base_url + "/healthz", headers={"User-Agent": agent}, timeout=10)
            return all(self.logs.count(i, "/healthz", agent) > n for i, n in enumerate(before))

        if not wait_until(both_answered, timeout):
            pytest.fail(f"reloaded, the front did not send /healthz to both servers:\n{self.front.log()}")

    def create_staff_user(self, username: str, password: str) -> None:
        """`flask --app app staff add` with the servers' settings, as an operator does on any one."""
        command = [
            str(Path(sys.executable).parent / "flask"),
            "--app",
            "app",
            "staff",
            "add",
            username,
            "--password",
            password,
        ]
        result = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


Step = tuple[str, str, int]


def journey(store: Store, call_sid: str) -> list[Step]:
    """A call's journey as the database keeps it: (event, node, part), in order."""
    return [(e.event, e.node, e.part) for e in store.events_for(call_sid)]


def journey_on_one_app(keys: list[str]) -> list[Step]:
    """The journey of a new caller who picks English and presses `keys`, on one in-process app
    (its own SQLite): what the same call must leave behind however many servers answer it."""
    app = make_app()
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=TEST_TOKEN, caller=indian_mobile())
    answer(phone, "1")
    for key in keys:
        phone.press(key)
    return journey(services.store(app), phone.call_sid)
