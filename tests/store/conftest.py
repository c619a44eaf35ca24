"""Fixtures of the store's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cams_server.store.database import Database
from cams_server.store.keyring import key_source


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database, once on SQLite and once on PostgreSQL (`postgres_url`)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cams.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database(url, key_source(tmp_path / "keys", environ={}))
    db.migrate()
    yield db
    db.dispose()
