"""Statistics for the staff pages: what waits for staff, how many calls heard each part, where calls ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from ivr.store.batch import Batched
from ivr.store.calls import LIVE_WINDOW, latest_events
from ivr.store.core import utc_now
from ivr.store.models import Call, Callback, JourneyEvent, Recording


@dataclass(frozen=True, slots=True)
class Counts:
    """What is waiting for staff; available is False when the database could not be read."""

    live_calls: int
    open_callbacks: int
    unreviewed_recordings: int
    available: bool = True


@dataclass(frozen=True, slots=True)
class Listening:
    """Distinct calls seen at each node and at each (node, part); available as in Counts."""

    calls_at_node: dict[str, int]
    calls_at_part: dict[tuple[str, int], int]
    available: bool = True


class Stats(Batched):
    """Counts over calls, journeys and call-centre work, for the dashboard and the statistics page."""

    def counts(self, window: timedelta = LIVE_WINDOW) -> Counts:
        """How much is waiting for staff: live calls, open callbacks, unreviewed recordings."""

        def work(conn: Connection) -> Counts:
            def count(stmt: Any) -> int:
                return int(conn.scalar(stmt) or 0)

            return Counts(
                live_calls=count(
                    select(func.count())
                    .select_from(Call)
                    .where(Call.ended_at.is_(None), Call.started_at >= utc_now() - window)
                ),
                open_callbacks=count(
                    select(func.count()).select_from(Callback).where(Callback.done_at.is_(None))
                ),
                unreviewed_recordings=count(
                    select(func.count())
                    .select_from(Recording)
                    .where(Recording.reviewed_at.is_(None), Recording.erase_requested_at.is_(None))
                ),
            )

        return self._read("counts", {}, work, Counts(0, 0, 0, available=False))

    def listening(self) -> Listening:
        """How many calls were at each node, and at each part of it (for listening counts)."""

        def work(conn: Connection) -> Listening:
            calls = func.count(distinct(JourneyEvent.call_sid))
            by_node = conn.execute(select(JourneyEvent.node, calls).group_by(JourneyEvent.node))
            by_part = conn.execute(
                select(JourneyEvent.node, JourneyEvent.part, calls).group_by(
                    JourneyEvent.node, JourneyEvent.part
                )
            )
            return Listening(
                calls_at_node={node: int(n) for node, n in by_node},
                calls_at_part={(node, int(part)): int(n) for node, part, n in by_part},
            )

        return self._read("listening", {}, work, Listening({}, {}, available=False))

    def drop_offs(self) -> dict[str, int]:
        """For calls that have ended: how many ended at each node (where their last event was)."""

        def work(conn: Connection) -> dict[str, int]:
            last = latest_events()
            stmt = (
                select(JourneyEvent.node, func.count())
                .join(last, JourneyEvent.id == last.c.id)
                .join(Call, Call.call_sid == JourneyEvent.call_sid)
                .where(Call.ended_at.is_not(None))
                .group_by(JourneyEvent.node)
            )
            return {node: int(n) for node, n in conn.execute(stmt)}

        return self._read("drop_offs", {}, work, {})
