"""The loads of bench/webhooks.py, each from its own process, replaying the signed calls of bench/walks.py
(the files write_requests wrote under a prefix) against a URL, and their figures (Result):
- saturated, by wrk (bench/walk.lua): every connection sends its next request as soon as the last is
  answered (throughput);
- paced, by a Python client (this script run with --paced-client): each call waits 0 to 2 x THINK ms,
  then connects and sends its next request, like a (very quick) caller; latency measured around the
  whole exchange, connection included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent


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


def paced_client_command(argv: list[str]) -> None:
    """The paced client's process, from its arguments after --paced-client (as run_paced passes them):
    URL PREFIX THREADS CALLS THINK_MS DURATION."""
    url, prefix, threads, calls, think, duration = argv
    paced_client(url, prefix, int(threads), int(calls), int(think), float(duration))


if __name__ == "__main__":
    if sys.argv[1:2] != ["--paced-client"]:
        raise SystemExit(f"usage: {sys.argv[0]} --paced-client URL PREFIX THREADS CALLS THINK_MS DURATION")
    paced_client_command(sys.argv[2:8])
