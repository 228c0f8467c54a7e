"""The audit log: who did what with personal data or the line's records, and when."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from ivr.store.batch import Batched
from ivr.store.core import columns, fit, utc_now
from ivr.store.models import AuditEntry
from ivr.store.privacy import mask

# The actions the line records (ivr/web/audit.py and the CLI write them).
VIEW_NUMBERS = "view-numbers"
LISTEN_RECORDING = "listen-recording"
ERASE = "erase"
EXPORT = "export"
SIGN_OFF = "sign-off"
ROLE_CHANGE = "role-change"
CALLER_BY_VOICE = "caller (by voice)"  # the actor of a caller's own "forget me"
ACTIONS = (VIEW_NUMBERS, LISTEN_RECORDING, ERASE, EXPORT, SIGN_OFF, ROLE_CHANGE)


def command_line_actor() -> str:
    """Who runs a `flask` command, as the audit log names them: "cli:" and the system user."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli:unknown"


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry of the audit log."""

    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str
    detail: str | None


class Audit(Batched):
    """Entries are written at once (never batched): a caller of `audit` shows or does the thing only
    once it is recorded."""

    def audit(
        self,
        actor: str,
        action: str,
        target: str,
        *,
        role: str | None = None,
        detail: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Record that `actor` (a staff username, or "cli:" and a system user) did `action` to
        `target`; False if the database could not be reached (then do not show or do it). Anything
        in target or detail that looks like a phone number is masked: the log names, never dials."""
        row = {
            "at": at or utc_now(),
            "actor": fit(AuditEntry.actor, actor) or "unknown",
            "role": role,
            "action": action,
            "target": fit(AuditEntry.target, mask(target)) or "",
            "detail": fit(AuditEntry.detail, mask(detail)) if detail else None,
        }

        def work(conn: Connection) -> bool:
            conn.execute(insert(AuditEntry).values(**row))
            return True

        return self._write("audit", {"action": action, "actor": row["actor"]}, work, False)

    def audit_entries(
        self, *, limit: int = 100, offset: int = 0, action: str | None = None, actor: str | None = None
    ) -> tuple[list[AuditRow], int] | None:
        """A page of entries, newest first, and how many match in all; None if the database could
        not be read."""

        def work(conn: Connection) -> tuple[list[AuditRow], int]:
            where = []
            if action:
                where.append(AuditEntry.action == action)
            if actor:
                where.append(AuditEntry.actor == actor)
            stmt = (
                select(*columns(AuditEntry))
                .where(*where)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(limit)
                .offset(offset)
            )
            total = conn.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
            return [AuditRow(**row._mapping) for row in conn.execute(stmt)], int(total)

        return self._read("audit_entries", {}, work, None)
