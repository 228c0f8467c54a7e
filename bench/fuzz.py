"""Fuzz bench: tests/test_fuzz.py with the bench profile (1,000 examples a test, over 10,000 in all).

Run: .venv/bin/python bench/fuzz.py [--examples N]   (N per test; default from the bench profile)
Prints the examples run per test, the HTTP statuses seen, and the time taken.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_TOTAL = 10_000


def main() -> None:
    """Run the fuzz tests under the bench profile and summarise hypothesis' statistics."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, help="examples per test instead of the profile's")
    args = parser.parse_args()
    env = {**os.environ, "HYPOTHESIS_PROFILE": "bench"}
    if args.examples:
        env["HYPOTHESIS_MAX_EXAMPLES"] = str(args.examples)
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_fuzz.py",
            "--hypothesis-show-statistics",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    total = 0
    print(f"{'test':60} {'passing':>8} {'failing':>8}  HTTP statuses of the examples")
    for block in result.stdout.split("tests/test_fuzz.py::")[1:]:
        name = block.split(":\n", 1)[0]
        counts = re.search(r"- (\d+) passing, (\d+) failing", block)
        if counts is None:
            continue
        total += int(counts[1])
        statuses = ", ".join(
            f"{status}: {share}%" for share, status in re.findall(r"\* ([\d.]+)%, HTTP (\d+)", block)
        )
        print(f"{name:60} {counts[1]:>8} {counts[2]:>8}  {statuses}")
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "(no output)"
    print(f"\n{total} passing examples in {elapsed:.0f} s ({total / elapsed:.0f}/s); pytest: {summary}")
    if result.returncode != 0:
        print(result.stdout[-6000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(result.returncode)
    if total < MIN_TOTAL and not args.examples:
        raise SystemExit(f"only {total} examples: the bench promises at least {MIN_TOTAL}")


if __name__ == "__main__":
    main()
