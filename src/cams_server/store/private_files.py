"""Files only the server's own user may read: `CAMS_HOME` is 0700, what is written there 0600.

Every file is *created* with its final mode (`os.open` with a mode, never chmod
afterwards), so there is no moment at which another local user could open it. The
only chmod here is `tighten`, which migrates a directory or file an older version
left group- or world-readable, and says so in the log.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

__all__ = [
    "StorageUnusable",
    "create_private_file",
    "private_directory",
    "sync_directory",
    "tighten",
    "write_private_file",
]

log = logging.getLogger("cams_server")

_OPEN_BITS = 0o077  # any group or other permission


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tighten(path: Path, private_mode: int) -> None:
    """Take group and other permissions away from `path`, if it exists and has any.

    A migration for homes and databases written by versions that used the umask's
    0755/0644; new files are never created open.
    """
    if not path.exists() or path.is_symlink():
        return
    mode = _mode(path)
    if mode & _OPEN_BITS:
        path.chmod(private_mode)
        log.warning(
            "tightened the permissions of %s from %s to %s: it holds, or sits next to, "
            "secrets other local users must not read",
            path,
            oct(mode),
            oct(private_mode),
        )


class StorageUnusable(RuntimeError):
    """The server's directory or a file in it cannot be created or written: said once,
    naming the path and what to do, by `cams-server` (no traceback)."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(
            f"cannot write {path} ({error.strerror or error}): CAMS_HOME must be a directory "
            "this user can create and write (or give --database a database elsewhere)"
        )


def private_directory(path: Path) -> None:
    """`path` exists as a 0700 directory: created so, or tightened (with a log line)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        tighten(path, 0o700)
    except OSError as exc:
        raise StorageUnusable(path, exc) from exc


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists (an existing file is left as it is).

    SQLite gives a database's `-wal` and `-shm` files the database file's mode, so
    creating `cams.db` this way before SQLite opens it makes all three private.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise StorageUnusable(path, exc) from exc
    os.close(fd)


def _write_temporary(path: Path, data: bytes) -> Path:
    """A new 0600 file next to `path` holding `data`, flushed to disk."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(
        temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
    )
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return temporary


def sync_directory(directory: Path) -> None:
    """Make a rename or link in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write `data` to `path` as a 0600 file, atomically: readers see the old content or
    the new one, never a part.

    With `replace`, an existing file is replaced (temporary file + rename). Without it,
    an existing file is kept and False is returned (temporary file + link, which fails
    rather than overwrite), so two processes creating the same key file at once agree
    on one content.
    """
    temporary = _write_temporary(path, data)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:  # another process created it first: theirs stands
                return False
    finally:
        if temporary.exists():
            temporary.unlink()
    sync_directory(path.parent)
    return True
