"""Soak: 100 simulated calls at once against gunicorn (2 workers), over real HTTP, for a bounded time.

Every request must be answered with TwiML, every call's journey must be in the database afterwards
(journey events batched in each worker and written on shutdown included), and the server's log must
be JSON lines with no caller number in clear. SOAK_SECONDS (default 15) sets the SQLite run's length.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ivr.simulator import HttpTransport, Phone
from ivr.simulator.server import Gunicorn
from ivr.store import normalise_url

pytestmark = [pytest.mark.system, pytest.mark.slow]

TOKEN = "soak-token-0123456789abcdef"
CALLS = 100
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "15"))
# Keys and words that move a call along; 8 (a text) and callbacks are left out: they log two
# events for one request, and this test counts one per request.
KEYS = "11112234569*#"
WORDS = ("symptoms", "treatment", "repeat", "go back", "main menu", "help", "causes")
JOURNEY_PATHS = ("/voice", "/voice/step", "/voice/dial")


@dataclass
class Tally:
    """What the simulated callers saw."""

    requests: Counter[str] = field(default_factory=Counter)  # journey requests answered, per CallSid
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    numbers: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _caller(server: Gunicorn, deadline: float, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        phone = Phone(HttpTransport(timeout=15), base_url=server.base_url, auth_token=TOKEN)
        turns = [phone.dial()]
        for _ in range(rng.randint(3, 10)):
            if phone.ended or time.monotonic() >= deadline:
                break
            r = rng.random()
            if r < 0.7:
                turns.append(phone.press(rng.choice(KEYS)))
            elif r < 0.85:
                turns.append(phone.say(rng.choice(WORDS)))
            else:
                turns.append(phone.wait())
        phone.hangup()
        answered = [
            url
            for turn in turns
            for url, status in turn.requests
            if status == 200 and url.split("?")[0].removeprefix(server.base_url) in JOURNEY_PATHS
        ]
        with tally.lock:
            tally.calls += 1
            tally.numbers.add(phone.caller)
            tally.requests[phone.call_sid] += len(answered)
            tally.errors += [f"{phone.call_sid}: {turn.error}" for turn in turns if turn.error]


def _soak(server: Gunicorn, seconds: float, calls: int) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_caller, args=(server, deadline, n, tally)) for n in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    assert not any(thread.is_alive() for thread in threads), "a simulated call hung"
    return tally


def _journeys(database_url: str) -> Counter[str]:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT call_sid, count(*) FROM journey_events GROUP BY call_sid"))
            return Counter({sid: int(n) for sid, n in rows})
    finally:
        engine.dispose()


VOICE_PATHS = ("/voice", "/voice/step", "/voice/dial", "/voice/recorded")


def _check_log(log: str, numbers: set[str]) -> None:
    lines = [line for line in log.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    errors = [e["message"] for e in entries if e["level"] in ("ERROR", "CRITICAL")]
    assert not errors, errors[:5]
    assert any(e["logger"] == "gunicorn.access" for e in entries)
    # Each webhook's access line says which call it was and what the caller did there.
    webhooks = [e for e in entries if e["logger"] == "gunicorn.access" and e["http"]["path"] in VOICE_PATHS]
    assert webhooks and all(e.get("CallSid") and e["call"]["event"] for e in webhooks)
    runs = set(re.findall(r"\d{7,}", log))  # every run of digits in the log, once
    leaked = [n for n in numbers if any(n.lstrip("+") in run for run in runs)]
    assert not leaked, f"caller numbers in the log: {leaked[:3]}"


@pytest.fixture(params=["sqlite", "postgres"])
def soak_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, float, int]]:
    """(database URL, seconds, calls): the full soak on SQLite, a shorter one on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'soak.sqlite3'}", SOAK_SECONDS, CALLS
        return
    base: str = request.getfixturevalue("postgres_database")
    schema = f"soak_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), min(SOAK_SECONDS, 6.0), CALLS
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_soak_no_errors_and_no_journey_lost(soak_database: tuple[str, float, int], tmp_path: Path) -> None:
    database_url, seconds, calls = soak_database
    env = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_HASH_SALT": "soak-salt",
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "IVR_OPERATOR_NUMBER": "+15005550006",
        # Every simulated call comes from 127.0.0.1, far faster than real callers: the per-IP limit
        # would refuse them. The per-caller limit stays at its default.
        "IVR_RATELIMIT_IP_BURST": "100000",
        "IVR_RATELIMIT_IP_PER_MINUTE": "10000000",
    }
    server = Gunicorn("app:app", workers=2, env=env, log_path=tmp_path / "gunicorn.log")
    with server:
        tally = _soak(server, seconds, calls)
    assert server.process is not None and server.process.returncode == 0, server.log()[-2000:]

    total = sum(tally.requests.values())
    print(f"soak: {tally.calls} calls, {total} journey requests in {seconds:.0f} s ({total / seconds:.0f}/s)")
    assert tally.calls >= calls and total >= 5 * calls, "the soak did too little to mean anything"
    assert not tally.errors, tally.errors[:5]

    stored = _journeys(database_url)
    lost = {sid: (n, stored.get(sid, 0)) for sid, n in tally.requests.items() if stored.get(sid, 0) < n}
    assert not lost, f"{len(lost)} calls lost journey events (requests, rows): {list(lost.items())[:5]}"
    _check_log(server.log(), tally.numbers)
