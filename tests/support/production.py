"""`bin/production` (nginx in front of gunicorn) on free ports, with its run directory in a temp dir;
signed webhooks over plain HTTP or TLS; slow clients that dribble requests; a self-signed certificate."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from ivr.config import REPO_ROOT
from ivr.simulator.server import Gunicorn, children, command_line, free_port, terminate
from tests.support.app import AUTH_TOKEN, indian_mobile

PRODUCTION = REPO_ROOT / "bin" / "production"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names) and body; `seconds` from connect to last byte."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def twiml(self) -> ET.Element:
        """The body parsed as TwiML (raises when it is not XML)."""
        return ET.fromstring(self.body)


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    timeout: float = 30,
    context: ssl.SSLContext | None = None,
) -> Reply:
    """One request on its own connection (http:// or https:// with `context`). Raises OSError (a
    TimeoutError when there is no answer within `timeout` seconds, from connect to the last byte)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    started = time.monotonic()
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path or "/", body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read()
        answer = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, answer, data, time.monotonic() - started)
    finally:
        connection.close()


def signed_voice(
    url: str,
    public_url: str,
    *,
    caller: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
    context: ssl.SSLContext | None = None,
) -> Reply:
    """A new call's first webhook, POST /voice, sent to `url` and signed as Twilio signs it for
    `public_url` (the line's PUBLIC_BASE_URL + /voice) with the tests' Auth Token."""
    form = {
        "CallSid": "CA" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": caller or indian_mobile(),
        "To": "+15005550001",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url, form)
    sent = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        **(headers or {}),
    }
    return request(url, "POST", urlencode(form).encode(), sent, timeout=timeout, context=context)


def raw_exchange(port: int, data: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes to 127.0.0.1:port and read until the server closes (or `timeout` seconds)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
    return received


def head_of(raw: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers (lower-case names) of a raw HTTP/1.x response (0, {}: none)."""
    head, _, _ = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return 0, {}
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def self_signed_certificate(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (its own CA: a client trusts it with cafile=cert) and
    its key, both PEM, made with openssl; (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def app_server(directory: Path, name: str, public_url: str, *, workers: int = 1) -> Gunicorn:
    """One app server of a front machine, not started: gunicorn as `bin/serve` runs it, on a free
    port of 127.0.0.1, behind one proxy (IVR_PROXY_HOPS=1), PUBLIC_BASE_URL the front's
    `public_url`, the tests' Auth Token; every app server made in `directory` shares its SQLite
    database and secrets (as app machines share PostgreSQL and their variables). It logs JSON lines
    to `directory`/`name`.log."""
    env = {
        "PUBLIC_BASE_URL": public_url,
        "IVR_PROXY_HOPS": "1",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_HASH_SALT": "production-test-salt",
        "IVR_SECRET_KEY": "production-test-secret",
        "DATABASE_URL": f"sqlite:///{directory / 'line.db'}",
        "LOG_FORMAT": "json",
        "REDIS_URL": "",  # the line's own counts, not the test runner's Redis
    }
    return Gunicorn(workers=workers, env=env, log_path=directory / f"{name}.log", start_timeout=120)


class Production:
    """`bin/production` as an operator runs it: nginx on `port` (a free one by default; and a TLS
    port with `tls`) in front of gunicorn on a unix socket in `directory`/run, an SQLite database in
    `directory`, the tests' Auth Token; `env` adds to or overrides the script's environment. With
    IVR_APP_SERVERS in `env` it is a front machine: nginx only, sending requests round those
    servers (started by the test). Started in its own session; stopped with SIGTERM, then killed
    if it hangs."""

    def __init__(
        self,
        directory: Path,
        *,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        start_timeout: float = 120,
        port: int | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls_port = free_port()
        self.run_dir = directory / "run"
        self.log_path = directory / "production.log"
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.tls = tls
        self.public_url = f"https://localhost:{self.tls_port}" if tls else f"http://localhost:{self.port}"
        self.context = ssl.create_default_context(cafile=str(tls[0])) if tls else None
        self.start_timeout = start_timeout
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "TLS_PORT": str(self.tls_port),
            "IVR_RUN_DIR": str(self.run_dir),
            "PUBLIC_BASE_URL": self.public_url,
            "WEB_CONCURRENCY": str(workers),
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "IVR_HASH_SALT": "production-test-salt",
            "IVR_SECRET_KEY": "production-test-secret",
            "DATABASE_URL": f"sqlite:///{directory / 'line.db'}",
            **({"TLS_CERT": str(tls[0]), "TLS_KEY": str(tls[1])} if tls else {}),
            **(env or {}),
        }
        for name in ("REDIS_URL", "IVR_PROXY_HOPS"):  # the line's own, not the test runner's
            if name not in (env or {}):
                self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        """gunicorn's unix socket, which nginx proxies to."""
        return self.run_dir / "gunicorn.sock"

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [str(PRODUCTION)], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self.process

    def start(self) -> Production:
        """Start the script and wait until /healthz answers 200 through nginx (or fail with its log):
        from this machine's gunicorn, or in front mode from one of the app servers, which must be
        running already."""
        process = self._spawn()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"bin/production exited with {process.returncode}:\n{self.log()}")
            try:
                if request(self.public_url + "/healthz", timeout=5, context=self.context).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"bin/production did not answer within {self.start_timeout} s:\n{self.log()}")

    def run(self, timeout: float = 120) -> int:
        """Run the script to its end, for a start it refuses: its exit status (its output is in
        log()). Raises subprocess.TimeoutExpired, after killing it, if it is still running after
        `timeout` seconds."""
        process = self._spawn()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def reload(self) -> None:
        """SIGHUP to the script's nginx, as an operator reloads it: new workers with the config
        read again, and none of the app servers left out for having failed."""
        os.kill(self.children()["nginx"], signal.SIGHUP)

    def children(self) -> dict[str, int]:
        """The script's child processes by program: {'gunicorn': pid, 'nginx': pid} while both run
        ({'nginx': pid} on a front machine)."""
        if self.process is None:
            return {}
        found = {}
        for pid in children(self.process.pid):
            command = command_line(pid)
            if command:  # "" once it has gone
                found["nginx" if "nginx" in command else "gunicorn"] = pid
        return found

    def alive_in_session(self) -> bool:
        """Whether any process of the script's session (nginx, gunicorn and their workers) is left."""
        if self.process is None:
            return False
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log(self) -> str:
        """Everything the script, nginx and gunicorn wrote."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM to the script (it stops nginx, then gunicorn, gracefully); its exit status."""
        if self.process is None:
            return None
        return terminate(self.process, timeout, session=True)  # SIGKILL to its session after `timeout`

    def kill(self) -> None:
        """Kill whatever is left of the script's session (its own process group)."""
        if self.process is not None and self.alive_in_session():
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self) -> Production:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.kill()


@contextmanager
def app_out_of_reach(line: Production, *, stuck: bool = False) -> Iterator[None]:
    """gunicorn out of nginx's reach while inside: its socket moved away (nginx's connect is refused:
    a 502), or with `stuck` a socket in its place that takes connections and never answers (a stuck
    worker: a 504 after proxy_read_timeout). Put back afterwards."""
    moved = line.socket_path.with_name("moved.sock")
    line.socket_path.rename(moved)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if stuck:
            silent.bind(str(line.socket_path))
            silent.listen(16)
        yield
    finally:
        silent.close()
        line.socket_path.unlink(missing_ok=True)
        moved.rename(line.socket_path)


class SlowClients:
    """Connections to 127.0.0.1:port that send their requests a byte every `interval` seconds: `headers`
    of them never finish their headers, `bodies` send whole headers then dribble a 60,000-byte body.
    A connection the server drops is opened again, so the attack holds until the block ends."""

    HEAD = b"POST /voice HTTP/1.1\r\nHost: localhost\r\n"
    BODY_HEAD = HEAD + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"

    def __init__(self, port: int, *, headers: int = 24, bodies: int = 24, interval: float = 0.5) -> None:
        self.port = port
        self.kinds = [self.HEAD + b"X-Slow: "] * headers + [self.BODY_HEAD] * bodies
        self.interval = interval
        self.sockets: list[socket.socket | None] = [None] * len(self.kinds)
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, index: int) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(self.kinds[index])
        except OSError:
            self.sockets[index] = None
            return
        self.sockets[index] = sock
        self.opened += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for index, sock in enumerate(self.sockets):
                if sock is None:
                    self._open(index)
                    continue
                try:
                    sock.sendall(b"a")
                except OSError:
                    sock.close()
                    self._open(index)

    def __enter__(self) -> SlowClients:
        for index in range(len(self.kinds)):
            self._open(index)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.sockets:
            if sock is not None:
                sock.close()
