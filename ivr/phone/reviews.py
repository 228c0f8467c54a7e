"""Keeps the line's clinical sign-offs (`Line.reviews`) in step with the database.

The engine is pure: it reads the sign-offs that count from the line object. This edge reads the
latest sign-off of each topic and language from the store, keeps those given for today's text
(their content hash is the text's: ivr/content/signoff.py) and hands them to the line: at
start-up, after a sign-off in this process, and otherwise at most every REFRESH_S seconds, so that
every server worker catches up with a sign-off given on another. When the database cannot be
read, the last sign-offs known stay (none before the first read): a call never waits on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ivr.content.signoff import Review, content_hashes
from ivr.engine import Line
from ivr.store import Store
from ivr.store.signoffs import SignOffRow

REFRESH_S = 60.0  # how stale a worker's sign-offs may be (seconds): one given on another worker


class ReviewFeed:
    """The line's sign-offs, read from `store`; `clock` is monotonic seconds."""

    def __init__(self, line: Line, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.line = line
        self.store = store
        self.clock = clock
        self.hashes = content_hashes(line.content.tree, line.content.languages)  # the content never changes
        self._read_at: float | None = None
        self._lock = threading.Lock()  # one read at a time per worker; the others go on with what is known

    def refresh(self) -> bool:
        """Read the sign-offs now; False if the database could not be read (the last known stay)."""
        self._read_at = self.clock()
        latest = self.store.latest_signoffs()
        if latest is None:
            return False
        self.line.reviews.replace(
            {key: Review(row.clinician, row.signed_on) for key, row in latest.items() if self.counts(row)}
        )
        return True

    def counts(self, row: SignOffRow) -> bool:
        """Whether a sign-off was given for today's text of its topic and language."""
        return self.hashes.get((row.topic, row.lang)) == row.content_hash

    def refresh_if_due(self) -> None:
        """Read the sign-offs if the last read was REFRESH_S or more ago (every request asks)."""
        last = self._read_at
        if last is not None and self.clock() - last < REFRESH_S:
            return
        if self._lock.acquire(blocking=False):
            try:
                self.refresh()
            finally:
                self._lock.release()
