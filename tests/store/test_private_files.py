"""Under the usual umask (022), `CAMS_HOME` is 0700 and every file the server and the
CLI write there is 0600, from the moment it exists."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cams_server.store.serve_lock import ServeLock
from tests.test_tls import serving

CLI = [sys.executable, "-m", "cams_server.cli"]


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(home: Path) -> dict[str, int]:
    """Relative path -> permission bits of `home` and everything under it."""
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in home.rglob("*"):
        found[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(home: Path) -> None:
    open_ = {
        name: oct(mode)
        for name, mode in modes(home).items()
        if mode != (0o700 if (home / name).is_dir() else 0o600)
    }
    assert open_ == {}, f"not private: {open_}"


@pytest.mark.usefixtures("usual_umask")
def test_serve_and_the_cli_keep_a_new_home_private(tmp_path: Path, rich_world: Path) -> None:
    home = tmp_path / "home"  # does not exist yet: serve creates it
    with serving(home, "--tls", "self-signed", "--world", str(rich_world)):
        applied = subprocess.run(
            [*CLI, "world", "apply", str(rich_world)],
            env={**os.environ, "CAMS_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert applied.returncode == 0, applied.stderr
        assert_private(home)
        written = set(modes(home))
        expected = {"cams.db", "cams.db-wal", "cams.db-shm", "cams.db.serve-lock", "master.key"}
        expected |= {"tls", "tls/ca.pem", "tls/ca-key.pem", "tls/server.pem", "tls/server-key.pem"}
        assert expected <= written, written
    assert_private(home)


@pytest.mark.usefixtures("usual_umask")
def test_the_cli_creates_a_private_home(tmp_path: Path, rich_world: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run(
        [*CLI, "world", "apply", str(rich_world)],
        env={**os.environ, "CAMS_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert_private(home)
    assert {"cams.db", "master.key"} <= set(modes(home))


@pytest.mark.usefixtures("usual_umask")
def test_the_serve_lock_file_is_private(tmp_path: Path) -> None:
    lock = ServeLock(tmp_path / "cams.db", exclusive=True)
    try:
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
    finally:
        lock.release()
