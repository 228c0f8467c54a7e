"""Webhook throughput and latency under gunicorn: the line's call walks against a bare Flask route.

Run: .venv/bin/python bench/webhooks.py [--duration 15] [--connections 50] [--workers N] [--nginx]

The servers run side by side with the same gunicorn.conf.py (workers, logging, timeouts) on
127.0.0.1, and are loaded in turns: the saturated load in short alternating rounds (the machine's speed
drifts within minutes), each round's ratio taken against its neighbour, and the median reported.
The load comes from a separate process (wrk, or a paced Python client), replaying simulated calls:
random walks through the menus (keys, speech, silence, a failed transfer) recorded once in-process
with the call simulator, then given fresh CallSids and callers and signed with
Twilio's RequestValidator, each call's requests in order and 50 calls in flight. The line checks
every signature, rebuilds the state from the URL, runs the engine, renders TwiML and writes the
journey to SQLite; the bare app answers every webhook with the same constant TwiML, and a third,
signed_app, does too after the one check every webhook must make (read the form, check the
signature): its ratio to bare is the most that any line checking signatures can reach. Two loads:
- saturated (wrk): every connection sends its next request as soon as the last is answered
  (throughput);
- paced (a Python client process): each call waits 0 to 2 x THINK ms (500 on average), then connects
  and sends its next request, like a (very quick) caller; latency measured around the whole exchange,
  connection included.
Targets: ours/bare req/s >= 0.8 when saturated, p99 < 20 ms. Latency is measured by the client
(connection included) and, from gunicorn's access log, inside the server: when saturated, most of the
client's time is spent waiting for a free worker, so it follows throughput.
The CPU column is the servers' CPU time per request (master and workers, from /proc): unlike req/s
and latency, it hardly moves when something else is using the machine. /proc counts it in clock ticks
(10 ms at 100 Hz) per process, so it is good to within processes x 10 ms / requests: 50 us for 4
workers and a master over 1,000 requests (a default paced load has about that many; a saturated
round, thousands).
With --nginx, each server also gets its own nginx in front, started by bin/production in its
front-machine mode (IVR_APP_SERVERS=the server: deploy/nginx.conf, the production config), and each
round loads every server directly and through its nginx (the same gunicorn), one after the other.
A load through nginx counts nginx's CPU (master and workers) with gunicorn's, and prints the two
apart too. Then come the ratios direct and through nginx side by side, and the proxy's cost per
server: req/s through nginx over direct (round by round), the p50 and p99 it adds to the paced load,
and nginx's CPU per request. wrk keeps its connections to nginx open, the paced client opens one per
request, and nginx opens one to gunicorn per request (deploy/nginx.conf keeps none open). The bench
sets no IVR_PROXY_HOPS (production sets 1 behind nginx: werkzeug's ProxyFix on each request), so
the difference between the two routes is nginx alone. Each nginx is stopped (SIGTERM to its
bin/production, which stops nginx gracefully) at the end, on an error and on Ctrl-C.
Environment passed on to the line: IVR_EVENT_BATCH_MS=0 (each journey event written at once, as
before batching), REDIS_URL (rate-limit counts in Redis).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import runpy
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twilio.request_validator import RequestValidator

from ivr.config import REPO_ROOT
from ivr.factory import create_app
from ivr.simulator import FlaskTransport, Phone
from ivr.simulator.server import (
    GUNICORN_CONF,
    Gunicorn,
    answers,
    children,
    cpu_seconds,
    free_port,
    program,
    rss_kib,
    terminate,
)

TOKEN = "bench-token-0123456789abcdef"
SALT = "bench-salt"
PUBLIC = "http://bench.invalid"  # PUBLIC_BASE_URL: the signatures do not depend on the port
OPERATOR = "+15005550006"
BENCH = Path(__file__).resolve().parent
PRODUCTION = REPO_ROOT / "bin" / "production"
RATIO_TARGET = 0.8
FLOOR_RATIO_TARGET = 0.85  # issue 15: the line against the signature-check-only floor
P99_TARGET_MS = 20.0
# bare: constant TwiML; signed: the same after checking the signature; ours: the line.
SERVERS = ("bare", "signed", "ours")
SAYINGS = ("symptoms", "treatment", "causes", "repeat", "go back", "main menu", "help", "hindi", "english")


class Recorder:
    """A transport that remembers every request it passes on."""

    def __init__(self, inner: FlaskTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, dict[str, str]]] = []

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        """Record, then pass on."""
        self.sent.append((url, dict(params)))
        return self.inner.post(url, params, headers)


def record_walks(work: Path, count: int, seed: int) -> list[list[tuple[str, dict[str, str]]]]:
    """Random call walks through the menus, recorded in-process: [(path?query, params), ...] per call."""
    app = create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "HASH_SALT": SALT,
            "PUBLIC_BASE_URL": PUBLIC,
            "OPERATOR_NUMBER": OPERATOR,
            "DATABASE_URL": f"sqlite:///{work / 'record.sqlite3'}",
            "RATELIMIT_ENABLED": False,  # recording is in-process and quick: it would hear "busy"
        }
    )
    rng = random.Random(seed)
    walks = []
    for _ in range(count):
        recorder = Recorder(FlaskTransport(app))
        phone = Phone(recorder, base_url=PUBLIC, auth_token=TOKEN)
        phone.dial()
        for _step in range(rng.randint(4, 12)):
            if phone.ended:
                break
            r = rng.random()
            if r < 0.7:
                phone.press(rng.choice("1111223456789*#0"))
            elif r < 0.85:
                phone.say(rng.choice(SAYINGS))
            else:
                phone.wait()
        walks.append([(_path(url), params) for url, params in recorder.sent])
    return walks


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def write_requests(
    walks: list[list[tuple[str, dict[str, str]]]], prefix: Path, calls: int, threads: int, in_flight: int
) -> int:
    """Fresh calls from the recorded walks, signed, into one file per wrk thread; returns the count."""
    validator = RequestValidator(TOKEN)
    per_thread: list[list[list[str]]] = [[] for _ in range(threads)]
    every_call: list[list[str]] = []
    for n in range(calls):
        call_sid, caller = f"CA{n:032x}", f"+1666{n:07d}"
        lines = []
        for path, params in walks[n % len(walks)]:
            fields = {**params, "CallSid": call_sid, "From": caller, "Caller": caller}
            body = "&".join(f"{k}={_quote(v)}" for k, v in fields.items())
            lines.append(f"{path}\t{body}\t{validator.compute_signature(PUBLIC + path, fields)}")
        per_thread[n % threads].append(lines)
        every_call.append(lines)
    Path(f"{prefix}.calls").write_text("\n".join(json.dumps(call) for call in every_call))
    group = max(1, in_flight // threads)
    total = 0
    for index, thread_calls in enumerate(per_thread):
        with open(f"{prefix}.{index}", "w") as out:
            # `group` calls at a time, a request of each in turn: calls in flight, each in order.
            for start in range(0, len(thread_calls), group):
                batch = thread_calls[start : start + group]
                for step in range(max(len(c) for c in batch)):
                    for call in batch:
                        if step < len(call):
                            out.write(call[step] + "\n")
                            total += 1
    return total


def _quote(value: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(value)


@dataclass
class Result:
    """One wrk run."""

    target: str
    mode: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ok: int
    bad: int
    socket_errors: int
    cpu_us: float = 0.0  # server CPU (master and workers) per request: steady when the machine is busy
    server_p50_ms: float = 0.0  # inside the server (gunicorn's access log): the rest is waiting for a worker
    server_p99_ms: float = 0.0
    via: str = "direct"  # or "nginx": through the server's own nginx (--nginx)
    app_cpu_us: float = 0.0  # gunicorn's part of cpu_us (all of it when direct)
    nginx_cpu_us: float = 0.0  # nginx's part (master and workers): cpu_us = app_cpu_us + nginx_cpu_us
    # nginx_cpu_us is read in whole clock ticks (/proc, 10 ms at 100 Hz) per process: to within this.
    nginx_cpu_step_us: float = 0.0


def run_wrk(
    url: str,
    prefix: Path,
    *,
    target: str,
    mode: str,
    duration: float,
    connections: int,
    threads: int,
) -> Result:
    """One bounded wrk run (saturated); its Lua script prints the numbers as JSON."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:.0f}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "walk.lua"),
        url,
        "--",
        str(prefix),
    ]
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=duration + 60, check=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WALK_RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("WALK_RESULT "))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Result(
        target,
        mode,
        data["requests"] / (data["duration_us"] / 1e6),
        data["p50_us"] / 1000,
        data["p90_us"] / 1000,
        data["p99_us"] / 1000,
        data["max_us"] / 1000,
        data["ok"],
        data["bad"],
        errors,
    )


def paced_client(url: str, prefix: str, threads: int, calls: int, think_ms: int, duration: float) -> None:
    """The paced load, run in its own process: `calls` calls, each in turn waiting, then connecting
    and sending its next request at once (as Twilio does; wrk connects first and then waits, which
    ties up a sync worker on an idle connection). Prints the latencies as JSON."""
    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80
    every_call = [json.loads(line) for line in Path(f"{prefix}.calls").read_text().splitlines()]
    latencies: list[float] = []
    counts = {"ok": 0, "bad": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def call(n: int) -> None:
        rng = random.Random(n)
        # Simulated call n, then n + calls, ...: each call's requests in order, one at a time.
        todo = (line for k in range(n, len(every_call), calls) for line in every_call[k])
        for line in todo:
            time.sleep(rng.uniform(0, 2 * think_ms / 1000))
            if time.monotonic() >= deadline:
                return
            path, body, signature = line.split("\t")
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=10)
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                reply = response.read()
                conn.close()
            except OSError:
                with lock:
                    counts["errors"] += 1
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                counts["ok" if response.status == 200 and b"<Response>" in reply else "bad"] += 1

    workers = [threading.Thread(target=call, args=(n,)) for n in range(calls)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    took = time.monotonic() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    result = {"rps": len(latencies) / took, "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)}
    print("PACED_RESULT " + json.dumps({**result, "max": latencies[-1] if latencies else 0.0, **counts}))


def run_paced(url: str, prefix: Path, *, target: str, mode: str, args: argparse.Namespace) -> Result:
    """One bounded run of the paced client in its own process."""
    command = [
        sys.executable,
        __file__,
        "--paced-client",
        url,
        str(prefix),
        str(args.threads),
        str(args.connections),
        str(args.think),
        str(args.paced_duration),
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=args.paced_duration + 60, check=True
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PACED_RESULT ")), None)
    if line is None:
        raise SystemExit(f"the paced client printed no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("PACED_RESULT "))
    ms = {key: data[key] * 1000 for key in ("p50", "p90", "p99", "max")}
    return Result(
        target,
        mode,
        data["rps"],
        ms["p50"],
        ms["p90"],
        ms["p99"],
        ms["max"],
        data["ok"],
        data["bad"],
        data["errors"],
    )


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


class Loaded:
    """One server under test, direct or through its nginx (`front`): loaded on request, its CPU and
    log read around each load."""

    def __init__(
        self,
        name: str,
        server: Gunicorn,
        log: Path,
        prefix: Path,
        args: argparse.Namespace,
        front: Nginx | None = None,
    ) -> None:
        self.name, self.server, self.log, self.prefix, self.args = name, server, log, prefix, args
        self.front = front
        self.via = "nginx" if front else "direct"
        self.url = front.base_url if front else server.base_url

    def load(self, mode: str, duration: float, think: int) -> Result:
        """One bounded load (saturated with wrk, or paced), with server CPU and in-server latency."""
        server, args = self.server, self.args
        pids = [server.process.pid if server.process else 0, *server.worker_pids()]
        nginx_pids = self.front.pids() if self.front else []
        logged = self.log.stat().st_size
        before = sum(cpu_seconds(pid) for pid in pids)
        nginx_before = sum(cpu_seconds(pid) for pid in nginx_pids)
        if think:
            result = run_paced(self.url, self.prefix, target=self.name, mode=mode, args=args)
        else:
            result = run_wrk(
                self.url,
                self.prefix,
                target=self.name,
                mode=mode,
                duration=duration,
                connections=args.connections,
                threads=args.threads,
            )
        used = sum(cpu_seconds(pid) for pid in pids) - before
        nginx_used = sum(cpu_seconds(pid) for pid in nginx_pids) - nginx_before
        requests = max(1, result.ok + result.bad)
        result.via = self.via
        result.app_cpu_us = used / requests * 1e6
        result.nginx_cpu_us = nginx_used / requests * 1e6
        result.nginx_cpu_step_us = len(nginx_pids) / os.sysconf("SC_CLK_TCK") / requests * 1e6
        result.cpu_us = result.app_cpu_us + result.nginx_cpu_us
        result.server_p50_ms, result.server_p99_ms = server_latency(self.log, logged)
        return result


def load_servers(
    names: list[str], work: Path, prefix: Path, workers: int, args: argparse.Namespace, notes: list[str]
) -> list[Result]:
    """Start the servers side by side, then load them saturated in turns (rounds), then paced.

    The machine's speed drifts by 10 to 20 % within minutes (a shared VM): loading the servers one
    after the other, in short alternating rounds, lets each round compare like with like. With
    --nginx each server also gets its own nginx (bin/production), loaded just after (or, in the
    reversed rounds, just before) the server itself. Every nginx is stopped on the way out, errors
    and KeyboardInterrupt included, before the gunicorn behind it.
    """
    specs = {"bare": "bench.bare_app:app", "signed": "bench.signed_app:app", "ours": "app:app"}
    results: list[Result] = []
    with ExitStack() as stack:
        order: list[Loaded] = []
        for name in names:
            log = work / f"{name}.log"
            server = stack.enter_context(
                Gunicorn(specs[name], workers=workers, env=server_env(work, name), log_path=log)
            )
            order.append(Loaded(name, server, log, prefix, args))
            if args.nginx:
                front = stack.enter_context(Nginx(f"127.0.0.1:{server.port}", work / f"nginx-{name}"))
                order.append(Loaded(name, server, log, prefix, args, front))
        for one in order:
            one.load("warm-up", 2, 0)
        for round_ in range(args.rounds):
            for one in order if round_ % 2 == 0 else order[::-1]:
                results.append(one.load(f"saturated {round_ + 1}", args.duration / args.rounds, 0))
        for one in order:
            results.append(one.load(f"paced {args.think} ms", args.paced_duration, args.think))
        for one in order:
            if one.front is None:
                rss = [rss_kib(pid) // 1024 for pid in one.server.worker_pids()]
                errors = log_errors(one.log)
                notes.append(
                    f"{one.name}: {workers} workers, RSS after load {rss} MiB, {errors} ERROR log lines"
                )
            else:
                pids = one.front.pids()
                rss = [rss_kib(pid) // 1024 for pid in pids]
                errors = nginx_errors(one.front.log())
                notes.append(
                    f"{one.name} via nginx: master and {len(pids) - 1} workers, RSS after load {rss} MiB,"
                    f" {errors} error lines"
                )
    if "ours" in names:
        notes.append(f"ours: {journey_rows(work / 'ours.sqlite3')} journey events in SQLite")
    return results


def nginx_errors(log: str) -> int:
    """nginx's error lines in its output (it logs at crit and above: deploy/nginx.conf's error_log)."""
    return sum(f"[{level}]" in line for line in log.splitlines() for level in ("crit", "alert", "emerg"))


def median(values: list[float]) -> float:
    """The middle value (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def row(r: Result, wide: bool) -> str:
    """One line of the results table; `wide` (--nginx) adds the route (direct or nginx) and the CPU
    per request split into gunicorn's ("app") and nginx's, in µs ("-": no nginx on the route)."""
    via = f" {r.via:6}" if wide else ""
    nginx = f"{r.nginx_cpu_us:8.0f}" if r.via == "nginx" else f"{'-':>8}"
    cpu_parts = f" {r.app_cpu_us:7.0f} {nginx}" if wide else ""
    return (
        f"{r.target:6}{via} {r.mode:14} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p90_ms:7.2f} {r.p99_ms:7.2f}"
        f" {r.max_ms:7.1f} {r.ok:7d} {r.bad:5d} {r.socket_errors:8d} {r.cpu_us:10.0f}{cpu_parts}"
        f" {r.server_p50_ms:10.2f} {r.server_p99_ms:10.2f}"
    )


def typical_round(rounds: list[Result]) -> Result:
    """One server's saturated rounds (one route) summed up: the median of each figure, the worst max
    and the total counts."""
    return Result(
        rounds[0].target,
        "saturated, median",
        median([r.rps for r in rounds]),
        median([r.p50_ms for r in rounds]),
        median([r.p90_ms for r in rounds]),
        median([r.p99_ms for r in rounds]),
        max(r.max_ms for r in rounds),
        sum(r.ok for r in rounds),
        sum(r.bad for r in rounds),
        sum(r.socket_errors for r in rounds),
        cpu_us=median([r.cpu_us for r in rounds]),
        server_p50_ms=median([r.server_p50_ms for r in rounds]),
        server_p99_ms=median([r.server_p99_ms for r in rounds]),
        via=rounds[0].via,
        app_cpu_us=median([r.app_cpu_us for r in rounds]),
        nginx_cpu_us=median([r.nginx_cpu_us for r in rounds]),
    )


def round_ratios(top: list[Result], bottom: list[Result]) -> list[float]:
    """req/s of `top` over `bottom`, round by round (both loaded within the same round)."""
    return [t.rps / b.rps for t, b in zip(top, bottom, strict=True)]


VIA_HEADINGS = {
    "direct": "\n== direct: the client connects to gunicorn ==",
    "nginx": "\n== through nginx (deploy/nginx.conf, by bin/production): CPU is gunicorn's and nginx's ==",
}


def verdicts(
    typical: dict[str, Result], saturated: dict[str, list[Result]], paced: list[Result], connections: int
) -> None:
    """Print the ratios to bare and to the signed floor, and the p99 of the line, against their targets,
    for one route: `typical` and `saturated` by server name, `paced` the line's paced results."""
    if "bare" in typical:
        for name, what in (("signed", "the floor: signature check only"), ("ours", "the line")):
            if name not in typical:
                continue
            ratios = round_ratios(saturated[name], saturated["bare"])
            ratio = median(ratios)
            each = ", ".join(f"{x:.2f}" for x in ratios)
            verdict = "meets" if ratio >= RATIO_TARGET else "MISSES"
            cpu = typical["bare"].cpu_us / max(1.0, typical[name].cpu_us)
            print(f"\nratio {name}/bare req/s (saturated, {what}): {ratio:.2f}, the median of rounds {each}")
            print(f"  ({verdict} the target of >= {RATIO_TARGET}); server CPU/request bare/{name}: {cpu:.2f}")
    if "signed" in typical and "ours" in typical:
        ratios = round_ratios(saturated["ours"], saturated["signed"])
        ratio = median(ratios)
        each = ", ".join(f"{x:.2f}" for x in ratios)
        verdict = "meets" if ratio >= FLOOR_RATIO_TARGET else "MISSES"
        beyond = typical["ours"].cpu_us - typical["signed"].cpu_us
        print(
            f"\nratio ours/signed req/s (saturated, the line against the floor): {ratio:.2f}, rounds {each}"
        )
        print(
            f"  ({verdict} the target of >= {FLOOR_RATIO_TARGET}); server CPU/request ours"
            f" {typical['ours'].cpu_us:.0f} us, signed {typical['signed'].cpu_us:.0f} us:"
            f" {beyond:.0f} us beyond"
        )
    for r in paced:
        verdict = "meets" if r.p99_ms < P99_TARGET_MS else "MISSES"
        print(f"p99 ours ({r.mode}, {r.rps:.0f} req/s): {r.p99_ms:.2f} ms ({verdict} < {P99_TARGET_MS} ms)")
    if "ours" in typical:
        r = typical["ours"]
        verdict = "meets" if r.p99_ms < P99_TARGET_MS else "misses"
        in_flight = f"saturated, {connections} in flight, median round"
        print(f"p99 ours ({in_flight}): {r.p99_ms:.2f} ms ({verdict} < {P99_TARGET_MS} ms)")


def proxy_cost(
    names: list[str], saturated: dict[tuple[str, str], list[Result]], paced: dict[tuple[str, str], Result]
) -> None:
    """Print the ratios side by side (direct, through nginx), then what nginx costs each server: req/s
    through nginx over direct (saturated, round by round), the p50 and p99 it adds (paced load), and
    its CPU per request. `saturated` and `paced` are keyed by (server, "direct" or "nginx")."""
    ratios = {
        f"{top}/{bottom} ({what})": [
            median(round_ratios(saturated[top, via], saturated[bottom, via])) for via in ("direct", "nginx")
        ]
        for top, bottom, what in (
            ("ours", "signed", f"the line against the floor; target >= {FLOOR_RATIO_TARGET}"),
            ("ours", "bare", f"target >= {RATIO_TARGET}"),
            ("signed", "bare", "the floor"),
        )
        if top in names and bottom in names
    }
    if ratios:
        width = max(map(len, ratios))
        print(f"\n{'saturated req/s, median of rounds':{width + 2}} direct  nginx")
        for label, (direct, nginx) in ratios.items():
            print(f"  {label:{width}} {direct:6.2f} {nginx:6.2f}")
    print("\nthe proxy's cost, per server (through nginx against direct):")
    for name in names:
        rounds = round_ratios(saturated[name, "nginx"], saturated[name, "direct"])
        each = ", ".join(f"{x:.2f}" for x in rounds)
        slow, quick = paced[name, "nginx"], paced[name, "direct"]
        nginx_cpu = median([r.nginx_cpu_us for r in saturated[name, "nginx"]])
        app = [median([r.app_cpu_us for r in saturated[name, via]]) for via in ("direct", "nginx")]
        print(f"{name:6} req/s through nginx / direct: {median(rounds):.2f} (saturated, rounds {each})")
        print(
            f"       latency added (paced, {slow.ok + slow.bad} and {quick.ok + quick.bad} requests):"
            f" p50 {slow.p50_ms - quick.p50_ms:+.2f} ms, p99 {slow.p99_ms - quick.p99_ms:+.2f} ms"
        )
        print(
            f"       nginx CPU/request: {nginx_cpu:.0f} us saturated (wrk keeps its connections open),"
            f" {slow.nginx_cpu_us:.0f} us paced (a connection each;"
            f" +-{slow.nginx_cpu_step_us:.0f}: /proc's ticks)"
        )
        print(
            f"       gunicorn CPU/request (saturated): {app[0]:.0f} us direct, {app[1]:.0f} us through nginx"
        )


def main() -> None:
    """Record walks, then load the bare app, the floor and the line in turn (each direct, and through
    nginx with --nginx) and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of saturated load per server")
    parser.add_argument("--rounds", type=int, default=3, help="saturated rounds per server, taken in turns")
    parser.add_argument("--paced-duration", type=float, default=10.0, help="seconds of paced load per server")
    parser.add_argument("--connections", type=int, default=50, help="calls in flight")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--think", type=int, default=500, help="ms between a paced call's requests")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument("--calls", type=int, default=4000, help="distinct simulated calls replayed")
    parser.add_argument("--only", choices=SERVERS, help="load one server only")
    parser.add_argument(
        "--nginx",
        action="store_true",
        help="also load each server through its own nginx (bin/production), in the same rounds",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (bin/setup installs it)")

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-webhooks-"))
    t0 = time.perf_counter()
    walks = record_walks(work, 200, seed=6)
    prefix = work / "requests"
    total = write_requests(walks, prefix, args.calls, args.threads, args.connections)
    print(
        f"recorded {len(walks)} walks ({sum(map(len, walks))} requests) and wrote {total} signed requests"
        f" for {args.calls} calls in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    workers = args.workers or int(runpy.run_path(str(GUNICORN_CONF))["workers"])
    notes: list[str] = []
    names = [name for name in SERVERS if not args.only or name == args.only]
    results = load_servers(names, work, prefix, workers, args, notes)

    wide = bool(args.nginx)
    via, cpu_parts = (" via   ", "  app us nginx us") if wide else ("", "")
    print(
        f"\n{'target':6}{via} {'load':14} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}"
        f" {'max ms':>7} {'ok':>7} {'bad':>5} {'sock err':>8} {'CPU us/req':>10}{cpu_parts}"
        f" {'in server p50/p99 ms':>21}"
    )
    for r in results:
        print(row(r, wide))
    for note in notes:
        print(note)
    vias = ("direct", "nginx") if wide else ("direct",)
    saturated = {
        (name, via): [
            r for r in results if (r.target, r.via) == (name, via) and r.mode.startswith("saturated")
        ]
        for name in names
        for via in vias
    }
    typical = {key: typical_round(rounds) for key, rounds in saturated.items() if rounds}
    for r in typical.values():
        print(row(r, wide))
    paced = {(r.target, r.via): r for r in results if r.mode.startswith("paced")}
    for via in vias:
        if wide:
            print(VIA_HEADINGS[via])
        verdicts(
            {name: r for (name, v), r in typical.items() if v == via},
            {name: rounds for (name, v), rounds in saturated.items() if v == via},
            [r for r in results if r.target == "ours" and r.via == via and r.mode.startswith("paced")],
            args.connections,
        )
    if wide:
        proxy_cost(names, saturated, paced)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--paced-client"]:
        url, prefix, threads, calls, think, duration = sys.argv[2:8]
        paced_client(url, prefix, int(threads), int(calls), int(think), float(duration))
    else:
        main()
