"""Capacity as callers see it: the most simultaneous paced callers served with server-side p99 < 50 ms.

Run: .venv/bin/python bench/capacity.py [--callers 500,1000,2000,3000,4000] [--hold 40] [--url URL]

Each simulated caller is one call at a time, replayed from the signed walks of bench/walks.py:
after each reply it listens for 5 to 15 s (uniformly at random, --think-min/--think-max), then
connects afresh and sends its next request, as Twilio does; when its call ends it dials the next.
The callers start spread over one think time, so the load is steady, not a burst. Each step holds
a number of callers for --hold seconds; the steps go up until the server-side p99 (the time
gunicorn spent on each request, from its access log) reaches --p99-ms or a request fails, and the
last step under it is the capacity.

Without --url the line is started under gunicorn (gunicorn.conf.py, SQLite unless DATABASE_URL and
REDIS_URL are set in the environment), and its access log gives the server-side latency and its
/proc figures the CPU and memory. With --url (nginx in front, or any running line with the bench's
settings: TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL of bench/walks.py) only the client-side
latency is measured, --server-log names the access log to read for the server side, and
--server-pid the process whose tree (bin/production: nginx and gunicorn, master and workers) is the
server, for its CPU and its gunicorn workers' memory.

The load generator must not starve the server: it is one asyncio process (one core at most), its
own CPU time is measured and printed per step beside the server's, and --client-cpu pins it to
one core with taskset (the server keeps the others) when the machine has more than two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import runpy
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import server_env, server_latency
from bench.walks import record_walks, write_requests
from ivr.simulator.server import (
    GUNICORN_CONF,
    Gunicorn,
    cpu_seconds,
    gunicorn_workers,
    private_kib,
    process_tree,
    program,
    rss_kib,
)

P99_TARGET_MS = 50.0


@dataclass
class Step:
    """One held number of callers."""

    callers: int
    requests: int
    errors: int
    bad: int
    bad_statuses: dict[str, int]  # HTTP status (0: no reply) -> count, of the bad replies
    client_p50_ms: float
    client_p99_ms: float
    server_p50_ms: float
    server_p99_ms: float
    server_cpu_pct: float  # of one core, master and workers
    client_cpu_pct: float


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _send(host: str, port: int, line: str) -> tuple[int, float]:
    """One webhook on a fresh connection: (HTTP status, seconds from connect to the last byte)."""
    path, body, signature = line.split("\t")
    data = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-www-form-urlencoded"
        f"\r\nX-Twilio-Signature: {signature}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head.encode() + data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout=15)
    finally:
        writer.close()
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    ok = status == 200 and b"<Response>" in reply
    return (status if ok else -status or -1), time.perf_counter() - started


async def _load(
    url: str, calls: list[list[str]], callers: int, hold: float, think: tuple[float, float], first: int
) -> dict[str, Any]:
    """`callers` paced callers for `hold` seconds; latencies of the requests sent in that time."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    counts: dict[str, Any] = {"errors": 0, "bad": 0, "bad_statuses": {}}
    deadline = time.monotonic() + hold
    next_call = iter(range(first, 10**9))  # each step dials calls no earlier step made

    async def caller(n: int) -> None:
        rng = random.Random(n)
        await asyncio.sleep(rng.uniform(0, think[1]))  # spread the first requests over a think time
        while time.monotonic() < deadline:
            for line in calls[next(next_call) % len(calls)]:
                if time.monotonic() >= deadline:
                    return
                try:
                    status, took = await _send(host, port, line)
                except (TimeoutError, OSError):
                    counts["errors"] += 1
                else:
                    latencies.append(took)
                    if status < 0:
                        counts["bad"] += 1
                        code = str(-status if status != -1 else 0)
                        counts["bad_statuses"][code] = counts["bad_statuses"].get(code, 0) + 1
                await asyncio.sleep(rng.uniform(*think))

    await asyncio.gather(*(caller(n) for n in range(callers)))
    return {"latencies": latencies, **counts}


def client(
    url: str, calls_file: str, callers: int, hold: float, think: tuple[float, float], first: int
) -> None:
    """The load generator, in its own process: prints its figures and its own CPU time as JSON."""
    calls = [json.loads(line) for line in Path(calls_file).read_text().splitlines()]
    result = asyncio.run(_load(url, calls, callers, hold, think, first))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lat = result["latencies"]
    print(
        "CAPACITY_RESULT "
        + json.dumps(
            {
                "requests": len(lat),
                "errors": result["errors"],
                "bad": result["bad"],
                "bad_statuses": result["bad_statuses"],
                "p50": _pct(lat, 0.5),
                "p99": _pct(lat, 0.99),
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )
    )


def run_step(
    url: str,
    calls_file: Path,
    callers: int,
    first: int,
    args: argparse.Namespace,
    server: Gunicorn | None,
    log: Path | None,
    *,
    warm_up: bool = False,
) -> Step:
    """Hold `callers` for args.hold seconds (quick callers for args.warm_up seconds, to fill each
    worker's caches, when `warm_up`); the client in its own process (pinned when asked)."""
    pids = ([server.process.pid] if server and server.process else []) + (
        server.worker_pids() if server else []
    )
    if args.server_pid:
        pids = process_tree(args.server_pid)
    before = sum(cpu_seconds(pid) for pid in pids)
    logged = log.stat().st_size if log and log.exists() else 0
    think = (0.05, 0.2) if warm_up else (args.think_min, args.think_max)
    hold = args.warm_up if warm_up else args.hold
    command = [sys.executable, __file__, "--client", url, str(calls_file), str(callers), str(hold)]
    command += [str(think[0]), str(think[1]), str(first)]
    if args.client_cpu is not None:
        command = ["taskset", "-c", str(args.client_cpu), *command]
    started = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, timeout=hold + 120, check=True)
    took = time.monotonic() - started
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("CAPACITY_RESULT ")), None)
    if line is None:
        raise SystemExit(f"the client printed no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("CAPACITY_RESULT "))
    server_p50, server_p99 = server_latency(log, logged) if log and log.exists() else (0.0, 0.0)
    used = sum(cpu_seconds(pid) for pid in pids) - before
    return Step(
        callers,
        data["requests"],
        data["errors"],
        data["bad"],
        data["bad_statuses"],
        data["p50"] * 1000,
        data["p99"] * 1000,
        server_p50,
        server_p99,
        used / took * 100,
        data["cpu_s"] / took * 100,
    )


def main() -> None:
    """Record walks, start the line (or use --url), then hold each number of callers in turn."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", default="500,1000,2000,3000,4000", help="steps, comma-separated")
    parser.add_argument("--hold", type=float, default=40.0, help="seconds each step is held")
    parser.add_argument(
        "--think-min", type=float, default=5.0, help="least seconds between a caller's requests"
    )
    parser.add_argument(
        "--think-max", type=float, default=15.0, help="most seconds between a caller's requests"
    )
    parser.add_argument("--p99-ms", type=float, default=P99_TARGET_MS, help="server-side p99 bound")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument("--url", help="load a running line (nginx, say) instead of starting gunicorn")
    parser.add_argument(
        "--server-log", type=Path, help="with --url: its JSON access log, for the server side"
    )
    parser.add_argument(
        "--server-pid", type=int, help="with --url: the server's process (its tree's CPU and memory counted)"
    )
    parser.add_argument("--warm-up", type=float, default=15.0, help="seconds of quick callers first")
    parser.add_argument("--calls", type=int, default=12000, help="distinct simulated calls signed")
    parser.add_argument("--database-url", help="the line's database (default: SQLite in a temp dir)")
    parser.add_argument("--client-cpu", type=int, help="pin the load generator to this core (taskset)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ivr-bench-capacity-"))
    walks = record_walks(work, 200, seed=15)
    prefix = work / "requests"
    write_requests(walks, prefix, args.calls, 1, 1)
    calls_file = Path(f"{prefix}.calls")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    steps: list[Step] = []
    server: Gunicorn | None = None
    log = args.server_log
    try:
        if args.url is None:
            log = work / "ours.log"
            env = server_env(work, "ours")
            if args.database_url:
                env["DATABASE_URL"] = args.database_url
            workers = args.workers or int(runpy.run_path(str(GUNICORN_CONF))["workers"])
            server = Gunicorn("app:app", workers=workers, env=env, log_path=log).start()
        url = args.url or (server.base_url if server else "")
        warm = run_step(url, calls_file, 20, 0, args, server, log, warm_up=True)
        print(f"warm-up: {warm.requests} requests in {args.warm_up:g} s (not counted)", flush=True)
        first = warm.requests + 20
        for callers in (int(c) for c in args.callers.split(",")):
            step = run_step(url, calls_file, callers, first, args, server, log)
            first += step.requests + callers  # at most one call per request, and one per caller
            steps.append(step)
            print(
                f"{step.callers:6d} callers: {step.requests / args.hold:6.1f} req/s, server p50/p99"
                f" {step.server_p50_ms:.2f}/{step.server_p99_ms:.2f} ms, client p50/p99"
                f" {step.client_p50_ms:.2f}/{step.client_p99_ms:.2f} ms, {step.errors} errors,"
                f" {step.bad} bad{' ' + str(step.bad_statuses) if step.bad else ''},"
                f" server CPU {step.server_cpu_pct:.0f}% of a core,"
                f" load generator {step.client_cpu_pct:.0f}%",
                flush=True,
            )
            over = step.server_p99_ms if server or args.server_log else step.client_p99_ms
            if over >= args.p99_ms or step.errors or step.bad:
                break
        if server is not None:
            workers = server.worker_pids()
        else:
            workers = gunicorn_workers(args.server_pid) if args.server_pid else []
        if workers:
            rss = [rss_kib(pid) // 1024 for pid in workers]
            own = [private_kib(pid) // 1024 for pid in workers]
            print(f"memory per gunicorn worker: RSS {rss} MiB, private {own} MiB")
        tree = process_tree(args.server_pid) if args.server_pid else []
        others = [pid for pid in tree if program(pid) == "nginx"]
        if others:
            print(f"memory per nginx process: RSS {[rss_kib(pid) // 1024 for pid in others]} MiB")
    finally:
        if server is not None:
            server.stop()
    passed = [
        s
        for s in steps
        if (s.server_p99_ms if log else s.client_p99_ms) < args.p99_ms and not s.errors and not s.bad
    ]
    best = max(passed, key=lambda s: s.callers, default=None)
    side = "server-side" if log else "client-side (no server log)"
    print(
        f"capacity: {best.callers if best else 0} paced callers with {side} p99 < {args.p99_ms:g} ms"
        + (f" (p50/p99 {best.server_p50_ms:.2f}/{best.server_p99_ms:.2f} ms)" if best and log else "")
    )
    # The server-side time leaves out the wait for a free sync worker (in the listen backlog): the
    # client's p99, connection included, is what a caller hears, so it is said beside it.
    heard = [s for s in steps if s.client_p99_ms < args.p99_ms and not s.errors and not s.bad]
    most = max(heard, key=lambda s: s.callers, default=None)
    print(
        f"as the client measures it (connection and queueing included): {most.callers if most else 0}"
        f" paced callers with p99 < {args.p99_ms:g} ms"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        url, calls_file, callers, hold, think_min, think_max, first = sys.argv[2:9]
        client(url, calls_file, int(callers), float(hold), (float(think_min), float(think_max)), int(first))
    else:
        main()
