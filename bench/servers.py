"""The servers the webhook benches load, and what they leave behind: the environment the line runs with
under the bench's settings (bench/walks.py signs for them), the time gunicorn spent on each request
and the ERROR lines in its JSON log, the journey events written, and the `Nginx` front (bin/production
in its front-machine mode) that bench/webhooks.py --nginx puts before each server, with its error lines.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from types import TracebackType

from bench.walks import OPERATOR, PUBLIC, SALT, TOKEN
from ivr.config import REPO_ROOT
from ivr.simulator.server import answers, children, free_port, program, terminate

PRODUCTION = REPO_ROOT / "bin" / "production"


def server_env(work: Path, name: str) -> dict[str, str]:
    """The environment of the line's server (the bare app ignores it; signed_app reads the first three)."""
    return {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_HASH_SALT": SALT,
        "PUBLIC_BASE_URL": PUBLIC,
        "IVR_OPERATOR_NUMBER": OPERATOR,
        "DATABASE_URL": f"sqlite:///{work / (name + '.sqlite3')}",
        "LOG_FORMAT": "json",
        # Passed on, to compare: IVR_EVENT_BATCH_MS=0 (write each event at once), REDIS_URL (shared limits).
        **{name: os.environ[name] for name in ("IVR_EVENT_BATCH_MS", "REDIS_URL") if name in os.environ},
        # The load comes from one address, far above a real one: the limiter runs but lets it pass.
        "IVR_RATELIMIT_IP_BURST": "1000000",
        "IVR_RATELIMIT_IP_PER_MINUTE": "100000000",
    }


def journey_rows(database: Path) -> int:
    """Journey events in a run's database."""
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM journey_events").fetchone()[0])


def server_latency(log: Path, offset: int) -> tuple[float, float]:
    """p50 and p99 of the time gunicorn spent on each request (its access lines after offset), in ms."""
    with log.open("rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode(errors="replace").splitlines()
    times = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "gunicorn.access" and "ms" in entry.get("http", {}):
            times.append(float(entry["http"]["ms"]))
    times.sort()
    if not times:
        return 0.0, 0.0
    return times[len(times) // 2], times[min(len(times) - 1, int(0.99 * len(times)))]


def log_errors(log: Path) -> int:
    """ERROR (or worse) lines in a server's JSON log."""
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            level = json.loads(line).get("level")
        except ValueError:
            continue
        count += level in ("ERROR", "CRITICAL")
    return count


def nginx_errors(log: str) -> int:
    """nginx's error lines in its output (it logs at crit and above: deploy/nginx.conf's error_log)."""
    return sum(f"[{level}]" in line for line in log.splitlines() for level in ("crit", "alert", "emerg"))


class Nginx:
    """nginx as production runs it, in front of one gunicorn: `bin/production` in its front-machine
    mode (IVR_APP_SERVERS=upstream, so only nginx, with deploy/nginx.conf and deploy/nginx-http.conf)
    on a free port of 127.0.0.1, with its run directory and output in `directory`. The script runs in
    its own session (a Ctrl-C at the terminal reaches this process, which stops it) and is stopped with
    SIGTERM: it stops nginx gracefully (SIGQUIT), waits for it and exits."""

    def __init__(self, upstream: str, directory: Path, *, start_timeout: float = 120.0) -> None:
        self.upstream = upstream  # host:port of the gunicorn behind it
        self.directory = directory
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "production.log"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        """Run the script (it runs ./bin/setup first) and wait until nginx's master and workers are up and
        GET /healthz through them answers below 500 (gunicorn's answer, not nginx's 502); RuntimeError
        with the script's output if it exits first or start_timeout seconds pass."""
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {name: value for name, value in os.environ.items() if name not in ("TLS_CERT", "TLS_KEY")}
        env |= {"IVR_APP_SERVERS": self.upstream, "PORT": str(self.port), "IVR_RUN_DIR": str(self.directory)}
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [str(PRODUCTION)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bin/production exited with {self.process.returncode}:\n{self.log()}")
            if len(self.pids()) > 1 and answers(self.base_url + "/healthz"):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not answer within {self.start_timeout} s:\n{self.log()}")

    def pids(self) -> list[int]:
        """nginx's master (the script's child) and its workers ([] before it starts or after it stops)."""
        if self.process is None:
            return []
        masters = [pid for pid in children(self.process.pid) if program(pid) == "nginx"]
        return [pid for master in masters for pid in (master, *children(master))]

    def log(self) -> str:
        """What the script and nginx wrote (nginx logs only critical errors, to stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM to the script and wait for its exit (it waits for nginx); if it has not exited after
        `timeout` seconds, SIGKILL to its session (the script, nginx and nginx's workers). The exit
        status (None: never started)."""
        return None if self.process is None else terminate(self.process, timeout, session=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
