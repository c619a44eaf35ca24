"""One deployment per SQLite file: processes that keep nonces and flow windows in
memory must be alone on their database, or the limit would silently be per process.

A process with in-memory guards takes an exclusive lock on `<db>.serve-lock`;
processes that share their guards through the file (`--workers N`) take a shared one.
The kernel drops the lock when the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["ServeLock", "ServeLockBusy"]


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
