"""Clinical sign-offs of topics: who signed which text of a topic in a language, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select

from ivr.store.batch import Batched
from ivr.store.core import columns, fit, utc_now
from ivr.store.models import SignOff


@dataclass(frozen=True, slots=True)
class SignOffRow:
    """One sign-off: `content_hash` is the SHA-256 (hex) of the text signed (ivr/content/signoff.py),
    `signed_on` the day the clinician gave, `at` when it was saved (UTC)."""

    id: int
    topic: str
    lang: str
    content_hash: str
    clinician: str
    signed_on: date
    signed_by: str
    at: datetime


class SignOffs(Batched):
    """History is kept: each sign-off is a new row, and the latest of a topic and language counts."""

    def sign_off(
        self,
        topic: str,
        lang: str,
        content_hash: str,
        *,
        clinician: str,
        signed_on: date,
        signed_by: str,
        at: datetime | None = None,
    ) -> bool:
        """Save a sign-off; False if the database could not be reached (then it is not signed)."""
        row = {
            "topic": topic,
            "lang": lang,
            "content_hash": content_hash,
            "clinician": fit(SignOff.clinician, clinician) or "",
            "signed_on": signed_on,
            "signed_by": fit(SignOff.signed_by, signed_by) or "",
            "at": at or utc_now(),
        }

        def work(conn: Connection) -> bool:
            conn.execute(insert(SignOff).values(**row))
            return True

        return self._write("sign_off", {"topic": topic, "lang": lang}, work, False)

    def latest_signoffs(self) -> dict[tuple[str, str], SignOffRow] | None:
        """The latest sign-off of each (topic, language) that has one; None if the database could not
        be read."""

        def work(conn: Connection) -> dict[tuple[str, str], SignOffRow]:
            newest = select(func.max(SignOff.id).label("id")).group_by(SignOff.topic, SignOff.lang).subquery()
            stmt = select(*columns(SignOff)).where(SignOff.id.in_(select(newest.c.id)))
            found = [SignOffRow(**row._mapping) for row in conn.execute(stmt)]
            return {(row.topic, row.lang): row for row in found}

        return self._read("latest_signoffs", {}, work, None)
