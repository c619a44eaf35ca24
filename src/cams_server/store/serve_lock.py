"""One in-memory server per database: processes that keep nonces and flow windows in
memory must be alone on their database, or the limit would silently be per process.

On SQLite, a process with in-memory guards takes an exclusive lock on
`<db>.serve-lock`; processes that share their guards through the file (`--workers N`)
take a shared one. On PostgreSQL without Redis, the process holds a session advisory
lock on a connection of its own. Either lock goes when the process dies, however it dies.
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


class ServeLock:
    def __init__(self, database: Path, exclusive: bool) -> None:
        self.path = database.with_name(database.name + ".serve-lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ServeLockBusy(
                f"another cams-server process is serving {database} with nonces and flow "
                "windows of its own; serve it from one command with --workers N, or give every "
                "process --redis"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class PostgresServeLock:
    def __init__(self, engine: Engine) -> None:
        self._connection: Connection | None = engine.connect()
        taken = self._connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}
        ).scalar()
        self._connection.commit()
        if not taken:
            self.release()
            raise ServeLockBusy(
                "another cams-server process serves this PostgreSQL database with nonces and "
                "flow windows of its own; give every process --redis"
            )

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # ends the session, and with it the lock
            self._connection = None


def take_serve_lock(
    database: Database, guard_shared: bool, guard_remote: bool
) -> ServeLock | PostgresServeLock | None:
    """The lock a server holds on `database` while it serves: None when its guard is
    remote (Redis), for then every process shares one; else exclusive for an in-memory
    guard, shared among processes whose guard is the SQLite file. Raises `ServeLockBusy`
    when another server holds it."""
    if guard_remote:
        return None
    if database.sqlite_path is not None:
        return ServeLock(database.sqlite_path, exclusive=not guard_shared)
    if database.dialect == "postgresql":
        return PostgresServeLock(database.engine)
    return None
