"""Simulated calls for the webhook benches (bench/webhooks.py, bench/capacity.py): random walks through
the menus (keys, speech, silence, a failed transfer) recorded once in-process with the call simulator,
then replayed as fresh calls (new CallSids and callers), each request signed with Twilio's
RequestValidator under the bench's settings (TOKEN, PUBLIC: the line under test must run with them).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from ivr.factory import create_app
from ivr.simulator import FlaskTransport, Phone

TOKEN = "bench-token-0123456789abcdef"
SALT = "bench-salt"
PUBLIC = "http://bench.invalid"  # PUBLIC_BASE_URL: the signatures do not depend on the port
OPERATOR = "+15005550006"
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
