"""Webhook throughput and latency under gunicorn: the line's call walks against a bare Flask route.

Run: .venv/bin/python bench/webhooks.py [--duration 15] [--connections 50] [--workers N]

Both servers run side by side with the same gunicorn.conf.py (workers, logging, timeouts) on
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
and latency, it hardly moves when something else is using the machine.
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
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twilio.request_validator import RequestValidator

from ivr.factory import create_app
from ivr.simulator import FlaskTransport, Phone
from ivr.simulator.server import GUNICORN_CONF, Gunicorn, cpu_seconds, rss_kib

TOKEN = "bench-token-0123456789abcdef"
SALT = "bench-salt"
PUBLIC = "http://bench.invalid"  # PUBLIC_BASE_URL: the signatures do not depend on the port
OPERATOR = "+15005550006"
BENCH = Path(__file__).resolve().parent
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


class Loaded:
    """One server under test: started, loaded on request, its CPU and log read around each load."""

    def __init__(
        self, name: str, server: Gunicorn, log: Path, prefix: Path, args: argparse.Namespace
    ) -> None:
        self.name, self.server, self.log, self.prefix, self.args = name, server, log, prefix, args

    def load(self, mode: str, duration: float, think: int) -> Result:
        """One bounded load (saturated with wrk, or paced), with server CPU and in-server latency."""
        server, args = self.server, self.args
        pids = [server.process.pid if server.process else 0, *server.worker_pids()]
        logged = self.log.stat().st_size
        before = sum(cpu_seconds(pid) for pid in pids)
        if think:
            result = run_paced(server.base_url, self.prefix, target=self.name, mode=mode, args=args)
        else:
            result = run_wrk(
                server.base_url,
                self.prefix,
                target=self.name,
                mode=mode,
                duration=duration,
                connections=args.connections,
                threads=args.threads,
            )
        used = sum(cpu_seconds(pid) for pid in pids) - before
        result.cpu_us = used / max(1, result.ok + result.bad) * 1e6
        result.server_p50_ms, result.server_p99_ms = server_latency(self.log, logged)
        return result


def load_servers(
    names: list[str], work: Path, prefix: Path, workers: int, args: argparse.Namespace, notes: list[str]
) -> list[Result]:
    """Start the servers side by side, then load them saturated in turns (rounds), then paced.

    The machine's speed drifts by 10 to 20 % within minutes (a shared VM): loading the two servers
    one after the other, in short alternating rounds, lets each round compare like with like.
    """
    specs = {"bare": "bench.bare_app:app", "signed": "bench.signed_app:app", "ours": "app:app"}
    results: list[Result] = []
    with ExitStack() as stack:
        loaded = {}
        for name in names:
            log = work / f"{name}.log"
            server = stack.enter_context(
                Gunicorn(specs[name], workers=workers, env=server_env(work, name), log_path=log)
            )
            loaded[name] = Loaded(name, server, log, prefix, args)
        for one in loaded.values():
            one.load("warm-up", 2, 0)
        order = list(loaded.values())
        for round_ in range(args.rounds):
            for one in order if round_ % 2 == 0 else order[::-1]:
                results.append(one.load(f"saturated {round_ + 1}", args.duration / args.rounds, 0))
        for one in order:
            results.append(one.load(f"paced {args.think} ms", args.paced_duration, args.think))
        for name, one in loaded.items():
            rss = [rss_kib(pid) // 1024 for pid in one.server.worker_pids()]
            errors = log_errors(one.log)
            notes.append(f"{name}: {workers} workers, RSS after load {rss} MiB, {errors} ERROR log lines")
    if "ours" in names:
        notes.append(f"ours: {journey_rows(work / 'ours.sqlite3')} journey events in SQLite")
    return results


def median(values: list[float]) -> float:
    """The middle value (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main() -> None:
    """Record walks, then load the bare app and the line in turn and print the table."""
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

    print(
        f"\n{'target':6} {'load':14} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'ok':>7} {'bad':>5} {'sock err':>8} {'CPU us/req':>10} {'in server p50/p99 ms':>21}"
    )
    for r in results:
        print(
            f"{r.target:6} {r.mode:14} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p90_ms:7.2f} {r.p99_ms:7.2f}"
            f" {r.max_ms:7.1f} {r.ok:7d} {r.bad:5d} {r.socket_errors:8d} {r.cpu_us:10.0f}"
            f" {r.server_p50_ms:10.2f} {r.server_p99_ms:10.2f}"
        )
    for note in notes:
        print(note)
    saturated = {
        name: [r for r in results if r.target == name and r.mode.startswith("saturated")] for name in names
    }
    typical = {
        name: Result(
            name,
            "saturated, median",
            median([r.rps for r in rounds]),
            median([r.p50_ms for r in rounds]),
            median([r.p90_ms for r in rounds]),
            median([r.p99_ms for r in rounds]),
            max(r.max_ms for r in rounds),
            sum(r.ok for r in rounds),
            sum(r.bad for r in rounds),
            sum(r.socket_errors for r in rounds),
            median([r.cpu_us for r in rounds]),
            median([r.server_p50_ms for r in rounds]),
            median([r.server_p99_ms for r in rounds]),
        )
        for name, rounds in saturated.items()
        if rounds
    }
    for r in typical.values():
        print(
            f"{r.target:6} {r.mode:14} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p90_ms:7.2f} {r.p99_ms:7.2f}"
            f" {r.max_ms:7.1f} {r.ok:7d} {r.bad:5d} {r.socket_errors:8d} {r.cpu_us:10.0f}"
            f" {r.server_p50_ms:10.2f} {r.server_p99_ms:10.2f}"
        )
    if "bare" in typical:
        for name, what in (("signed", "the floor: signature check only"), ("ours", "the line")):
            if name not in typical:
                continue
            ratios = [o.rps / b.rps for o, b in zip(saturated[name], saturated["bare"], strict=True)]
            ratio = median(ratios)
            each = ", ".join(f"{x:.2f}" for x in ratios)
            verdict = "meets" if ratio >= RATIO_TARGET else "MISSES"
            cpu = typical["bare"].cpu_us / max(1.0, typical[name].cpu_us)
            print(f"\nratio {name}/bare req/s (saturated, {what}): {ratio:.2f}, the median of rounds {each}")
            print(f"  ({verdict} the target of >= {RATIO_TARGET}); server CPU/request bare/{name}: {cpu:.2f}")
    if "signed" in typical and "ours" in typical:
        ratios = [o.rps / s.rps for o, s in zip(saturated["ours"], saturated["signed"], strict=True)]
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
    paced = [r for r in results if r.target == "ours" and r.mode.startswith("paced")]
    for r in paced:
        verdict = "meets" if r.p99_ms < P99_TARGET_MS else "MISSES"
        print(f"p99 ours ({r.mode}, {r.rps:.0f} req/s): {r.p99_ms:.2f} ms ({verdict} < {P99_TARGET_MS} ms)")
    if "ours" in typical:
        r = typical["ours"]
        verdict = "meets" if r.p99_ms < P99_TARGET_MS else "misses"
        in_flight = f"saturated, {args.connections} in flight, median round"
        print(f"p99 ours ({in_flight}): {r.p99_ms:.2f} ms ({verdict} < {P99_TARGET_MS} ms)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--paced-client"]:
        url, prefix, threads, calls, think, duration = sys.argv[2:8]
        paced_client(url, prefix, int(threads), int(calls), int(think), float(duration))
    else:
        main()
