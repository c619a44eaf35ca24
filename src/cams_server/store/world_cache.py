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
    """Enablements this process knows are on disk (they are never undone).

    It grows with every first-time enablement, up to the world's spaces: a space id is
    unique across accounts, so a space's entry is its id alone, and the caller passes the
    directory's own string (the space record's), so an entry costs a set slot, not a new
    tuple and strings (about 30 bytes against 230; bench/README.md, the soak)."""

    def __init__(self) -> None:
        self._spaces: set[str] = set()
        self._accounts: set[str] = set()  # account-wide enablements

    def known(self, account_id: str, space_id: str | None) -> bool:
        return space_id in self._spaces if space_id else account_id in self._accounts

    def remember(self, account_id: str, space_id: str | None) -> None:
        if space_id:
            self._spaces.add(space_id)
        else:
            self._accounts.add(account_id)

    def clear(self) -> None:
        self._spaces.clear()
        self._accounts.clear()


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
