"""Start-up time and memory: create_app, gunicorn worker boot, and the resident memory of a worker.

Run: .venv/bin/python bench/startup.py [--runs 5]
- import and create_app, each in a fresh interpreter (median of --runs);
- gunicorn (gunicorn.conf.py) with 1 worker and with the default number: seconds until every worker
  answers /healthz;
- RSS of the master and of one worker right after boot, and after 300 simulated calls (its caches
  warm), beside the bare Flask app of bench/webhooks.py under the same settings; "own" is the
  worker's private memory (RSS counts the pages it shares with the master too).
"""

from __future__ import annotations

import argparse
import json
import runpy
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.config import REPO_ROOT
from ivr.simulator import HttpTransport, Phone
from ivr.simulator.server import GUNICORN_CONF, Gunicorn, private_kib, rss_kib

TOKEN = "bench-token-0123456789abcdef"
PROBE = """
import json, time
t0 = time.perf_counter()
import ivr.factory
t1 = time.perf_counter()
app = ivr.factory.create_app({"TWILIO_AUTH_TOKEN": "x", "HASH_SALT": "x", "DATABASE_URL": "sqlite:///%s"})
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "create_app": t2 - t1}))
"""


def create_app_times(runs: int, work: Path) -> tuple[float, float]:
    """Median seconds to import ivr.factory and to run create_app, each run in a new interpreter."""
    imports, creates = [], []
    for n in range(runs):
        code = PROBE % (work / f"probe{n}.sqlite3")
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={"LOG_FORMAT": "json", "PATH": "/usr/bin:/bin"},
        )
        times = json.loads(out.stdout.strip().splitlines()[-1])
        imports.append(times["import"])
        creates.append(times["create_app"])
    return statistics.median(imports), statistics.median(creates)


def calls(server: Gunicorn, count: int) -> None:
    """Simulated calls, 10 at a time, to warm a worker's caches."""

    def one(n: int) -> None:
        for _ in range(count // 10):
            phone = Phone(HttpTransport(), base_url=server.base_url, auth_token=TOKEN)
            phone.dial()
            for key in "1" + "21349*#"[n % 7 :]:
                if phone.ended:
                    break
                phone.press(key)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-startup-"))
    env = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_HASH_SALT": "bench",
        "DATABASE_URL": f"sqlite:///{work / 'ivr.sqlite3'}",
        "IVR_RATELIMIT_IP_BURST": "1000000",
        "IVR_RATELIMIT_IP_PER_MINUTE": "100000000",
    }
    imported, created = create_app_times(args.runs, work)
    print(
        f"import ivr.factory: {imported * 1000:.0f} ms, create_app: {created * 1000:.0f} ms"
        f" (median of {args.runs})"
    )

    default_workers = int(runpy.run_path(str(GUNICORN_CONF))["workers"])
    for workers in sorted({1, default_workers}):
        boots = []
        for _ in range(3):
            with Gunicorn("app:app", workers=workers, env=env, log_path=work / "boot.log") as server:
                boots.append(server.started_in)
        ready = statistics.median(boots)
        print(f"gunicorn, {workers} worker(s): every worker answers after {ready:.2f} s (median of 3)")

    for name, spec in (("bare", "bench.bare_app:app"), ("ours", "app:app")):
        with Gunicorn(spec, workers=1, env=env, log_path=work / f"{name}.log") as server:
            assert server.process is not None
            (worker,) = server.worker_pids()
            master, booted, own = rss_kib(server.process.pid), rss_kib(worker), private_kib(worker)
            if name == "ours":
                calls(server, 300)
            warm, warm_own = rss_kib(worker), private_kib(worker)
        after = (
            f"; after 300 calls {warm / 1024:.1f} MiB ({warm_own / 1024:.1f} own)" if name == "ours" else ""
        )
        print(
            f"RSS {name}: master {master / 1024:.1f} MiB, worker after boot {booted / 1024:.1f} MiB"
            f" ({own / 1024:.1f} MiB its own, the rest shared with the master){after}"
        )


if __name__ == "__main__":
    main()
