"""Run the line under gunicorn on a free loopback port, for soak tests and benchmarks; and what /proc
says of a process: its CPU time, its memory, its children and the tree under it, its program."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from ivr.config import REPO_ROOT

GUNICORN_CONF = REPO_ROOT / "gunicorn.conf.py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a GET of `url` is answered within `timeout` seconds with a status below 500 (a server
    that is up, or a proxy whose app server is: nginx says 502 or 504 when it is not)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


class Gunicorn:
    """A gunicorn master with its workers, on 127.0.0.1, configured by gunicorn.conf.py and env."""

    def __init__(
        self,
        app: str = "app:app",
        *,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        ready_path: str = "/healthz",
        start_timeout: float = 60.0,
    ) -> None:
        self.app = app
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.log_path = log_path
        self.ready_path = ready_path
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0

    def env(self) -> dict[str, str]:
        """The environment the server runs with."""
        return {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(self.workers),
            "PYTHONPATH": str(REPO_ROOT),
            **self.extra_env,
        }

    def start(self) -> Gunicorn:
        """Start gunicorn and wait until every worker answers (or fail with its log)."""
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        t0 = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), self.app],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        if out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            if self._answers() and len(self.worker_pids()) >= self.workers:
                self.started_in = time.perf_counter() - t0
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {self.start_timeout} s:\n{self.log()}")

    def _answers(self) -> bool:
        return answers(self.base_url + self.ready_path)

    def worker_pids(self) -> list[int]:
        """The pids of the master's worker processes."""
        return [] if self.process is None else children(self.process.pid)

    def log(self) -> str:
        """Everything the server wrote so far (when it writes to a file)."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop gracefully (SIGTERM: requests in hand are finished), then kill if it hangs."""
        return None if self.process is None else terminate(self.process, timeout)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def terminate(process: subprocess.Popen[bytes], timeout: float, *, session: bool = False) -> int:
    """SIGTERM to a child process and its exit status once it exits; if it has not within `timeout`
    seconds, SIGKILL (to its whole session, when it was started in its own: start_new_session) and
    its status then (a negative signal number)."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        if session:
            # Not reaped yet, so its pid still names its session and group: only what it started.
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        return process.wait(10)


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def private_kib(pid: int) -> int:
    """Memory only this process uses (private pages, not shared with the master after fork), in KiB."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The pids of a process's children, from /proc, lowest first: those of each of its threads (any
    thread may fork); [] once it has gone."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    found: set[int] = set()
    for task in tasks:
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue  # the thread has ended
    return sorted(found)


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants' pids (the processes alive now)."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children(pid))
    return tree


def program(pid: int) -> str:
    """A process's program name (/proc/PID/comm; "" once it has gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def command_line(pid: int) -> str:
    """A process's command line, its arguments joined by spaces ("" once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def gunicorn_workers(root: int) -> list[int]:
    """The gunicorn workers in `root`'s tree: the gunicorn children of a gunicorn process (a master)."""
    return [
        worker
        for master in process_tree(root)
        if "gunicorn" in command_line(master)
        for worker in children(master)
        if "gunicorn" in command_line(worker)
    ]
