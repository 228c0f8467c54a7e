"""Deadlines for database calls: a PostgreSQL that stops answering costs a call seconds, not a hang.

A frozen server (its processes stopped, the machine up) lets the kernel accept new connections and
keeps open sockets open, and then says nothing. What a client would usually count on does not end
a read on such a socket:
- statement_timeout is enforced by the server, which is stopped;
- TCP keepalives and tcp_user_timeout watch the peer's kernel, which still acknowledges every packet;
- a cancel request goes to the same stopped postmaster;
- libpq's (here psycopg's) connect_timeout does bound setting up a new connection, and is kept.

So a store call runs `within(engine, seconds)`: each connection it checks out is watched, and when
the time is up a watchdog thread shuts that connection's socket down (shutdown(2)). The blocked read
returns at once, psycopg reports the connection lost, SQLAlchemy invalidates it, and the call raises
DeadlineExceededError (the store then uses its default and remembers the outage: ivr/store/outage.py).

SQLAlchemy's pool_pre_ping runs before any pool event, so before the connection could be watched:
`watch(engine)` pings on checkout instead, after the connection is watched, and raises
DisconnectionError for a dead connection, which makes the pool connect afresh (within the deadline).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# Twilio gives a webhook 15 s in all, and a caller hears silence meanwhile: a call answers within
# 3 s even when the database is frozen, so one database call may take 2 s (the figure).
DEADLINE_S = 2.0
# Migrations at start-up may wait for another worker's (an advisory lock) and run DDL, but must end
# well before gunicorn's 30 s worker timeout kills a worker still starting (gunicorn.conf.py).
MIGRATION_DEADLINE_S = 20.0
_FRESH = "ivr_fresh"  # ConnectionPoolEntry.info key: connected for this checkout, no ping needed


class DeadlineExceededError(SQLAlchemyError):
    """The database did not answer within a call's deadline (its connection was cut)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the database did not answer within {seconds:g} s")


@dataclass(eq=False)
class _Call:
    """One database call in progress: when it must end, and the sockets it uses (dup'd, so that
    a descriptor closed and reused meanwhile is never the one shut down)."""

    seconds: float
    ends: float  # time.monotonic()
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False


class _Watchdog:
    """One thread per process that cuts the sockets of calls past their deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: set[_Call] = set()
        self._wake_at = float("inf")  # when the thread will look next (inf: it waits for a call)
        self._started = False

    def add(self, call: _Call) -> None:
        with self._cond:
            self._calls.add(call)
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="db-deadlines", daemon=True).start()
            if call.ends < self._wake_at:  # usually not: calls end in the order they begin
                self._cond.notify()

    def remove(self, call: _Call) -> None:
        with self._cond:
            self._calls.discard(call)
            sockets, call.sockets = call.sockets, []
        for sock in sockets:
            sock.close()

    def watch(self, call: _Call, fileno: int) -> None:
        sock = socket.socket(fileno=os.dup(fileno))
        with self._cond:
            call.sockets.append(sock)
            if call.expired:
                _cut(sock)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for call in self._calls:
                    if not call.expired and call.ends <= now:
                        call.expired = True
                        for sock in call.sockets:
                            _cut(sock)
                self._wake_at = min((c.ends for c in self._calls if not c.expired), default=float("inf"))
                self._cond.wait(None if self._wake_at == float("inf") else self._wake_at - now)


def _cut(sock: socket.socket) -> None:
    """End the connection for both sides of this process: a blocked read sees end-of-file at once."""
    with suppress(OSError):  # already closed by the peer or by psycopg
        sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()
_local = threading.local()
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork() -> None:
    # A forked child (a gunicorn worker) has no watchdog thread, and maybe a lock held by one.
    global _watchdog, _local
    _watchdog = _Watchdog()
    _local = threading.local()


os.register_at_fork(after_in_child=_after_fork)


def _current() -> _Call | None:
    call: _Call | None = getattr(_local, "call", None)
    return call


@contextmanager
def within(engine: Engine, seconds: float) -> Iterator[None]:
    """Run database work that must end within `seconds`: past that its connections are cut, and it
    raises DeadlineExceededError. Nested, the outer deadline holds; on an engine `watch` was not given
    (SQLite, whose waits are bounded by its busy timeout), nothing is watched."""
    if engine not in _watched or _current() is not None:
        yield
        return
    call = _Call(seconds, time.monotonic() + seconds)
    _local.call = call
    _watchdog.add(call)
    try:
        yield
    except Exception as exc:
        # Past the deadline, whatever failed (a cut connection, or connect_timeout, which began
        # after the call did) failed because the database did not answer in time.
        if time.monotonic() >= call.ends and not isinstance(exc, DeadlineExceededError):
            raise DeadlineExceededError(seconds) from exc
        raise
    finally:
        _local.call = None
        _watchdog.remove(call)


def watch(engine: Engine) -> Engine:
    """Let `within` bound this engine's calls (PostgreSQL): ping and watch each checkout, refuse to
    connect once a call's time is up. Give it an engine made with pool_pre_ping off."""

    @event.listens_for(engine, "do_connect")
    def _connecting(_dialect: Any, _conn_rec: Any, _cargs: Any, _cparams: Any) -> None:
        call = _current()
        if call is not None and (call.expired or time.monotonic() >= call.ends):
            raise DeadlineExceededError(call.seconds)  # psycopg's connect_timeout would add 2 s more

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _checked_out(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        call = _current()
        dbapi_error = engine.dialect.loaded_dbapi.Error
        if call is not None:
            try:
                fileno = dbapi_connection.fileno()
            except dbapi_error as exc:  # psycopg: "the connection is lost"
                raise DisconnectionError(str(exc)) from exc  # the pool connects afresh
            _watchdog.watch(call, fileno)
        if record.info.pop(_FRESH, False):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if call is not None and call.expired:
                raise DeadlineExceededError(call.seconds) from exc
            if isinstance(exc, dbapi_error) and engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc)) from exc  # the pool connects afresh
            raise

    _watched.add(engine)
    return engine
