"""The live world of one server process, kept in step with the database.

The hot path reads `directory` (no I/O). `refresh()` compares the database's world
version with the one loaded and rebuilds the directory when another process (or
`world apply`) changed it; the server calls it on a short interval.
"""

from __future__ import annotations

import threading

from cams_server.clock import Clock
from cams_server.model.world import World
from cams_server.ram.credentials import DirectoryCredentials
from cams_server.ram.directory import Directory
from cams_server.ram.sts_tokens import StsTokenCodec
from cams_server.store.database import Database
from cams_server.store.world_repo import load_world_from

__all__ = ["EnabledSet", "WorldCache"]


class EnabledSet:
    """Enablements this process knows are on disk (they are never undone)."""

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] = set()

    def known(self, account_id: str, space_id: str | None) -> bool:
        return (account_id, space_id or "") in self._known

    def remember(self, account_id: str, space_id: str | None) -> None:
        self._known.add((account_id, space_id or ""))

    def clear(self) -> None:
        self._known.clear()


class WorldCache:
    def __init__(self, database: Database, sts: StsTokenCodec, clock: Clock) -> None:
        self._database = database
        self._sts = sts
        self._clock = clock
        self._lock = threading.Lock()
        self.version = -1
        self.directory = Directory(World())
        self.credentials = DirectoryCredentials(self.directory, sts, clock)
        self.enabled = EnabledSet()
        self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Reload if the stored world changed (or `force`); True if it reloaded."""
        with self._lock:
            version = self._database.world_version()
            if version == self.version and not force:
                return False
            directory = Directory(load_world_from(self._database))
            self.directory, self.credentials, self.version = (
                directory,
                DirectoryCredentials(directory, self._sts, self._clock),
                version,
            )
            self.enabled = EnabledSet()
            return True
