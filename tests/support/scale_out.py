"""The line scaled out as operators run it: two gunicorn masters behind one nginx `upstream`,
sharing one PostgreSQL database and one Redis; a phone and a staff browser that see which server
answered each request.

nginx (Debian's /usr/sbin/nginx) runs in the foreground from a config this module writes into a
temporary directory (its pid, logs and temporary files stay there); it adds an `X-Upstream` header
naming the server(s) it tried, so that a test can show where every request went. Only the
processes started here are ever signalled.
"""

from __future__ import annotations

import os
import pwd
import re
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
from tests.support.over_http import StaffBrowser
from tests.support.services import PrivateRedis
from tests.support.web import csrf_token

NGINX = "/usr/sbin/nginx"
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
UPSTREAM = re.compile(r"127\.0\.0\.1:(\d+)")


def nginx_conf(root: Path, port: int, upstream_ports: list[int]) -> str:
    """An nginx config: one worker (so round-robin is strict across requests), everything it writes
    under `root`, `listen` on 127.0.0.1:`port`, and an upstream of the app servers' ports.

    A server that refuses a connection or does not answer counts one failure (`max_fails=1`) and is
    left out for `fail_timeout` (30 s); the request goes on to the next server (`proxy_next_upstream
    error timeout`). A POST already sent to a server is never sent again (nginx's default without
    `non_idempotent`): nothing a caller did is done twice."""
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in upstream_ports)
    # As root the workers would be `nobody`, who cannot write in root's temporary directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    return f"""{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 512; }}
http {{
  access_log {root}/access.log;
  client_body_temp_path {root}/client_body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  upstream line {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://line;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 5s;
      proxy_read_timeout 60s;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


class Nginx:
    """nginx in the foreground (`daemon off`), its config and files in `root`; stop() ends it."""

    def __init__(self, root: Path, port: int, upstream_ports: list[int]) -> None:
        self.root = root
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.conf = root / "nginx.conf"
        self.conf.write_text(nginx_conf(root, port, upstream_ports))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        """Start it and wait until it accepts connections, or fail the test with its error log."""
        if not Path(NGINX).exists():
            pytest.fail(f"{NGINX} is not installed (bin/setup installs Debian's nginx)")
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.root), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with suppress(OSError), urllib.request.urlopen(self.base_url + "/healthz", timeout=5):
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"nginx did not start:\n{self.log()}")

    def upstream(self, timeout: float = 60) -> int | None:
        """The port of the server that answered a GET /healthz through nginx (None: no answer)."""
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=timeout) as response:
                tried = UPSTREAM.findall(response.headers["X-Upstream"] or "")
        except OSError:
            return None
        return int(tried[-1]) if tried else None

    def reload(self, timeout: float = 60) -> None:
        """SIGHUP: new workers with the config, and with no server left out for failing. Returns
        once two requests in a row went to different servers (both are in the rotation)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            now = self.upstream()
            if last is not None and now is not None and now != last:
                return
            last = now
            time.sleep(0.2)
        pytest.fail(f"after a reload nginx did not send requests to both servers:\n{self.log()}")

    def log(self) -> str:
        """Its error log so far."""
        path = self.root / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no error log)"

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL if it is still there after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Served:
    """One request as the client saw it: its URL, status, body and the app servers nginx tried
    (ports, in order: two when the first refused the connection)."""

    url: str
    status: int
    body: str
    upstreams: list[int]


class UpstreamTransport(HttpTransport):
    """The phone's HTTP transport, keeping every request with the servers nginx says it tried."""

    def __init__(self, timeout: float = 60.0) -> None:
        super().__init__(timeout)
        self.served: list[Served] = []

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        """POST over HTTP; the reply is kept in `served`."""
        request = urllib.request.Request(url, data=urlencode(params).encode(), headers=dict(headers))
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, body, tried = response.status, response.read(), response.headers["X-Upstream"]
        except urllib.error.HTTPError as exc:
            status, body, tried = exc.code, exc.read(), exc.headers["X-Upstream"]
        text = body.decode("utf-8", "replace")
        self.served.append(Served(url, status, text, [int(p) for p in UPSTREAM.findall(tried or "")]))
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
    """Two app servers (gunicorn masters, `workers` each) behind nginx, on one database and Redis.

    Every server has the same settings: DATABASE_URL, REDIS_URL, the SHARED_SECRETS, one trusted
    proxy hop and PUBLIC_BASE_URL = nginx's address (where Twilio's signatures are made).
    """

    def __init__(self, root: Path, database_url: str, redis: PrivateRedis, workers: int = 2) -> None:
        self.root = root
        self.nginx_port = free_port()
        self.env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            **SHARED_SECRETS,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.nginx_port}",
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
        self.nginx = Nginx(root, self.nginx_port, [s.port for s in self.servers])

    @property
    def base_url(self) -> str:
        """nginx's address: the line's public address."""
        return self.nginx.base_url

    def start(self) -> ScaleOut:
        """Start both servers (each migrates the shared database at start-up), then nginx."""
        for server in self.servers:
            server.start()
        self.nginx.start()
        return self

    def stop(self) -> None:
        """Stop nginx and both servers."""
        self.nginx.stop()
        for server in self.servers:
            server.stop()

    def index(self, port: int) -> int:
        """Which server (0 or 1) listens on `port`."""
        return [s.port for s in self.servers].index(port)

    def phone(self, caller: str) -> tuple[Phone, UpstreamTransport]:
        """A caller's phone, through nginx, and the transport that keeps what each request got."""
        transport = UpstreamTransport()
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

    def revive(self, index: int) -> None:
        """Start a killed server again on its port, and put it back in nginx's rotation."""
        self.servers[index].start()
        self.nginx.reload()

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
