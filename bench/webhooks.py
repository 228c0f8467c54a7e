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
import os
import runpy
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loads import Result, paced_client_command, run_paced, run_wrk
from bench.servers import Nginx, journey_rows, log_errors, nginx_errors, server_env, server_latency
from bench.walks import record_walks, write_requests
from ivr.simulator.server import GUNICORN_CONF, Gunicorn, cpu_seconds, rss_kib

RATIO_TARGET = 0.8
FLOOR_RATIO_TARGET = 0.85  # issue 15: the line against the signature-check-only floor
P99_TARGET_MS = 20.0
# bare: constant TwiML; signed: the same after checking the signature; ours: the line.
SERVERS = ("bare", "signed", "ours")


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
    if sys.argv[1:2] == ["--paced-client"]:  # as before the paced client moved to bench/loads.py
        paced_client_command(sys.argv[2:8])
    else:
        main()
