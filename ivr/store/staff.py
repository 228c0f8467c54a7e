"""Staff users of the dashboard, and failed staff logins counted for every server worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, case, delete, select, update

from ivr.store.batch import Batched
from ivr.store.core import columns, insert_for, utc_now
from ivr.store.models import LoginFailure, StaffUser


@dataclass(frozen=True, slots=True)
class StaffRow:
    """A staff user, with the password's hash and the version a session must carry to be valid."""

    id: int
    username: str
    password_hash: str
    created_at: datetime
    session_version: int
    role: str = "staff"  # one of models.STAFF_ROLES


class Staff(Batched):
    """Who may log in to the staff pages, and the login throttle's shared counts."""

    def add_staff_user(self, username: str, password_hash: str, role: str = "staff") -> bool:
        """Add a staff user (a password hash, never the password) with a role of
        models.STAFF_ROLES; False if the name is taken."""
        fields = {"username": username}

        def work(conn: Connection) -> bool:
            stmt = (
                insert_for(conn, StaffUser)
                .values(username=username, password_hash=password_hash, created_at=utc_now(), role=role)
                .on_conflict_do_nothing(index_elements=["username"])
                .returning(StaffUser.id)
            )
            # rowcount is -1 here on PostgreSQL (the insert returns its id): ask for the row instead.
            return conn.execute(stmt).first() is not None

        return self._write("add_staff_user", fields, work, False)

    def set_staff_password(self, username: str, password_hash: str) -> bool:
        """Replace a staff user's password hash and end every session they have open; False if there
        is no such user."""
        return self._new_session_version("set_staff_password", username, password_hash=password_hash)

    def end_staff_sessions(self, username: str) -> bool:
        """End every session the staff user has open, on every browser (their session version goes up
        by one); False if there is no such user or the database could not be reached."""
        return self._new_session_version("end_staff_sessions", username)

    def set_staff_role(self, username: str, role: str) -> bool:
        """Give a staff user another role (one of models.STAFF_ROLES) and end their open sessions,
        so that pages they may no longer open close at once; False if there is no such user."""
        return self._new_session_version("set_staff_role", username, role=role)

    def _new_session_version(self, what: str, username: str, **values: str) -> bool:
        """Change a user's row and raise their session version: every session opened before ends."""

        def work(conn: Connection) -> bool:
            stmt = (
                update(StaffUser)
                .where(StaffUser.username == username)
                .values(**values, session_version=StaffUser.session_version + 1)
            )
            return conn.execute(stmt).rowcount == 1

        return self._write(what, {"username": username}, work, False)

    def staff_user(self, username: str) -> StaffRow | None:
        """A staff user by name, or None."""

        def work(conn: Connection) -> StaffRow | None:
            row = conn.execute(select(*columns(StaffUser)).where(StaffUser.username == username)).first()
            return StaffRow(**row._mapping) if row else None

        return self._read("staff_user", {"username": username}, work, None)

    def staff_users(self) -> list[StaffRow]:
        """Every staff user, by name."""

        def work(conn: Connection) -> list[StaffRow]:
            stmt = select(*columns(StaffUser)).order_by(StaffUser.username)
            return [StaffRow(**row._mapping) for row in conn.execute(stmt)]

        return self._read("staff_users", {}, work, [])

    def staff_usernames(self) -> list[str]:
        """Every staff user's name, in order."""

        def work(conn: Connection) -> list[str]:
            return list(conn.scalars(select(StaffUser.username).order_by(StaffUser.username)))

        return self._read("staff_usernames", {}, work, [])

    # Failed staff logins (ivr/web/throttle.py), shared by every server worker. None: no database.

    def login_failures(self, keys: Sequence[str], now: float) -> list[tuple[int, float]] | None:
        """Each key's failures in its window and the seconds left in it, (0, 0.0) for none."""

        def work(conn: Connection) -> list[tuple[int, float]]:
            stmt = select(LoginFailure.key, LoginFailure.failures, LoginFailure.window_ends).where(
                LoginFailure.key.in_(keys), LoginFailure.window_ends > now
            )
            found = {key: (failures, ends - now) for key, failures, ends in conn.execute(stmt)}
            return [found.get(key, (0, 0.0)) for key in keys]

        return self._read("login_failures", {}, work, None)

    def add_login_failure(self, keys: Sequence[str], now: float, window_s: float) -> list[int] | None:
        """Count one failure against each key (a new window if its last has ended); the counts now."""

        def work(conn: Connection) -> list[int]:
            table = LoginFailure.__table__
            insert = insert_for(conn, LoginFailure)
            open_ = table.c.window_ends > now
            stmt = insert.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": case((open_, table.c.failures + 1), else_=1),
                    "window_ends": case((open_, table.c.window_ends), else_=insert.excluded.window_ends),
                },
            ).returning(table.c.failures)
            row = {"failures": 1, "window_ends": now + window_s}
            counts = [int(conn.execute(stmt, {"key": key, **row}).scalar_one()) for key in keys]
            # Windows long ended count for nothing: forget them (a few rows, by the index).
            conn.execute(delete(LoginFailure).where(LoginFailure.window_ends < now - window_s))
            return counts

        return self._write("add_login_failure", {}, work, None)

    def release_login_failure(self, key: str, now: float) -> bool:
        """Give back one failure counted against a key in advance (a login whose password was right):
        only in an open window and never below 0; False if the database could not be reached."""

        def work(conn: Connection) -> bool:
            conn.execute(
                update(LoginFailure)
                .where(LoginFailure.key == key, LoginFailure.window_ends > now, LoginFailure.failures > 0)
                .values(failures=LoginFailure.failures - 1)
            )
            return True

        return self._write("release_login_failure", {}, work, False)

    def clear_login_failures(self, key: str) -> bool:
        """Forget a key's failures; False if the database could not be reached."""

        def work(conn: Connection) -> bool:
            conn.execute(delete(LoginFailure).where(LoginFailure.key == key))
            return True

        return self._write("clear_login_failures", {}, work, False)
