"""Calls and their whole journeys over a period, for the listening figures and the exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from ivr.store.batch import Batched
from ivr.store.calls import IN_ORDER, CallRow, EventRow
from ivr.store.core import columns
from ivr.store.models import Call, JourneyEvent


@dataclass(frozen=True, slots=True)
class Journey:
    """One call and its journey events, in the order they happened."""

    call: CallRow
    events: list[EventRow]


class Figures(Batched):
    """Whole journeys for the figures page and the CSV exports (ivr/web/figures.py counts them)."""

    def journeys(self, since: datetime | None = None, until: datetime | None = None) -> list[Journey] | None:
        """Every call that started at or after `since` and before `until` (aware datetimes; None: no
        bound), oldest first, each with its journey; None when the database could not be read.
        Events whose call row is missing are left out: they have no start, language or end."""

        def work(conn: Connection) -> list[Journey]:
            where = []
            if since is not None:
                where.append(Call.started_at >= since)
            if until is not None:
                where.append(Call.started_at < until)
            calls = conn.execute(
                select(*columns(Call)).where(*where).order_by(Call.started_at, Call.call_sid)
            )
            found = {row.call_sid: Journey(CallRow(**row._mapping), []) for row in calls}
            stmt = (
                select(*columns(JourneyEvent))
                .join(Call, Call.call_sid == JourneyEvent.call_sid)
                .where(*where)
                .order_by(*IN_ORDER)
            )
            for row in conn.execute(stmt):
                found[row.call_sid].events.append(EventRow(row.at, row.event, row.node, row.part, row.detail))
            return list(found.values())

        fields = {"since": since.isoformat() if since else "-", "until": until.isoformat() if until else "-"}
        return self._read("journeys", fields, work, None)
