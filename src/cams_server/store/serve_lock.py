"""One in-memory server per database: processes that keep nonces and flow windows in
memory must be alone on their database, or the limit would silently be per process.

A process with in-memory guards takes an exclusive lock; processes that share their
guards (through the SQLite file with `--workers N`, or through Redis) take a shared one,
so an in-memory process can join neither kind of deployment, nor they it. On SQLite the
lock is a `flock` of `<db>.serve-lock`; on PostgreSQL a session advisory lock on a
connection of the process's own. Either goes when the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from cams_server.store.database import Database

__all__ = ["PostgresServeLock", "ServeLock", "ServeLockBusy", "take_serve_lock"]

_ADVISORY_KEY = 727474


class ServeLockBusy(RuntimeError):
    pass


_EXCLUSIVE_BUSY = (
    "other cams-server processes serve this database, sharing their nonces and flow "
    "windows (through Redis or the SQLite file) or keeping them in memory: a process with "
    "its own in memory would loosen the rate limit; give this one --redis like the others"
)
_SHARED_BUSY = (
    "a cams-server process serves this database with nonces and flow windows in memory; "
    "stop it, or give every process --redis"
)


class ServeLock:
    def __init__(self, database: Path, exclusive: bool) -> None:
        self.path = database.with_name(database.name + ".serve-lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ServeLockBusy(
                (_EXCLUSIVE_BUSY if exclusive else _SHARED_BUSY)
                + "; or serve the file from one command with --workers N"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class PostgresServeLock:
    def __init__(self, engine: Engine, exclusive: bool = True) -> None:
        self._connection: Connection | None = engine.connect()
        function = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
        taken = self._connection.execute(
            text(f"SELECT {function}(:key)"), {"key": _ADVISORY_KEY}
        ).scalar()
        self._connection.commit()
        if not taken:
            self.release()
            raise ServeLockBusy(_EXCLUSIVE_BUSY if exclusive else _SHARED_BUSY)

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # ends the session, and with it the lock
            self._connection = None


def take_serve_lock(
    database: Database, guard_shared: bool, guard_remote: bool
) -> ServeLock | PostgresServeLock | None:
    """The lock a server holds on `database` while it serves: exclusive for an
    in-memory guard, shared among processes whose guards are shared (the SQLite file, or
    Redis). Raises `ServeLockBusy` when another server holds it the other way."""
    exclusive = not (guard_shared or guard_remote)
    if database.sqlite_path is not None:
        return ServeLock(database.sqlite_path, exclusive=exclusive)
    if database.dialect == "postgresql":
        return PostgresServeLock(database.engine, exclusive=exclusive)
    return None
