"""Which app server answered a request, read from the servers' own logs (gunicorn.conf.py's JSON
lines, one object per line): each webhook's access line carries its CallSid and `http.path`, and
a webhook refused over the caller's rate limit has a warning line with its CallSid instead (the
busy reply's access line names no call). Operators read these same lines; nothing is added to a
response to say where it came from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.simulator.server import Gunicorn
from tests.support.over_http import wait_until

ACCESS = "gunicorn.access"
RATE_LIMIT = "ivr.ratelimit"


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects a log file holds, one a line, in order ([] when there is no file). Lines
    that are not whole JSON objects (a line being written, a plain-text line) are left out."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


@dataclass(frozen=True)
class Answered:
    """One access line: the server that wrote it (its index), the request's path and HTTP status."""

    server: int
    path: str
    status: str


class ServerLogs:
    """The logs of several app servers (`paths`, one file each), read afresh at every question;
    a server is named by its index in `paths`."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    @classmethod
    def of(cls, servers: Sequence[Gunicorn]) -> ServerLogs:
        """The logs of gunicorn servers that write to files (raises ValueError for one that does not)."""
        paths = [server.log_path for server in servers]
        if any(path is None for path in paths):
            raise ValueError("every server needs a log_path")
        return cls([path for path in paths if path is not None])

    def entries(self, server: int) -> list[dict[str, Any]]:
        """Every JSON line server `server` has logged so far."""
        return json_lines(self.paths[server])

    def answered(self, call_sid: str) -> list[Answered]:
        """Every webhook of the call that a server answered (its access line), server by server."""
        return [
            Answered(server, str(entry["http"].get("path")), str(entry["http"].get("status")))
            for server in range(len(self.paths))
            for entry in self.entries(server)
            if entry.get("logger") == ACCESS and entry.get("CallSid") == call_sid and "http" in entry
        ]

    def refused(self, call_sid: str) -> list[int]:
        """The servers that refused a webhook of the call over the caller's rate limit."""
        return [
            server
            for server in range(len(self.paths))
            for entry in self.entries(server)
            if entry.get("logger") == RATE_LIMIT and entry.get("CallSid") == call_sid
        ]

    def count(self, server: int, path: str, containing: str = "") -> int:
        """How many requests for `path` server `server` has answered (its access lines), of those
        whose line contains `containing` (the request line, status, referer and user agent)."""
        return sum(
            1
            for entry in self.entries(server)
            if entry.get("logger") == ACCESS
            and entry.get("http", {}).get("path") == path
            and containing in str(entry.get("message"))
        )

    def wait_for_answers(self, call_sid: str, count: int, timeout: float = 30) -> list[Answered]:
        """The call's access lines once there are at least `count` of them, or all there are when
        `timeout` seconds pass first: a worker writes a request's line only after its reply has
        gone, so a client can hold the reply before the line is there."""
        wait_until(lambda: len(self.answered(call_sid)) >= count, timeout)
        return self.answered(call_sid)
