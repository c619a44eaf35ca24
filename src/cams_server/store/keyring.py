"""The master key: where it comes from (one rule, used everywhere) and its key files.

The master key seals the database's data key (store/sealing.py) and never lives in
the database, so a copy of the database (a stolen file, a PostgreSQL backup) opens
nothing without it. `key_source` is the one place that decides where it comes from,
for `serve`, every CLI command that opens the database, `ServerSettings` and
`CamsServer` alike:

1. `--master-key-file PATH` (`ServerSettings.master_key_file`): a file holding it;
2. else `CAMS_MASTER_KEY`: the key itself, in the environment;
3. else `$CAMS_HOME/master.key`.

A key is the base64 of 32 random bytes (`openssl rand -base64 32` makes one). Its key
id is a fingerprint (a hash of the key, never the key) stored with the sealed data
key, so a wrong key is recognised exactly instead of producing garbage.

A key file is created (0600, atomically, never overwriting another process's) only
when the database is new or not sealed yet; `keys rotate` replaces it atomically,
staging the new key in `<file>.next` until the database is re-sealed under it.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cams_server.store.private_files import sync_directory, write_private_file

__all__ = [
    "KEY_FILE_NAME",
    "MASTER_KEY_ENV",
    "KeySource",
    "MasterKey",
    "MasterKeyError",
    "SecretsError",
    "key_source",
    "shown",
]

log = logging.getLogger("cams_server")

MASTER_KEY_ENV = "CAMS_MASTER_KEY"
KEY_FILE_NAME = "master.key"
_KEY_BYTES = 32
_KEY_ID_CONTEXT = b"cams-server master key id v1\0"
_SHOWN_ID = 12  # hex digits of a key id shown in messages


class SecretsError(RuntimeError):
    """The secrets at rest cannot be opened; the message says why and what to do, in one
    line fit for stderr."""


class MasterKeyError(SecretsError):
    """The master key is missing, malformed, or not the one that sealed the database."""


def shown(key_id: str) -> str:
    """A key id as messages show it: enough to tell keys apart."""
    return key_id[:_SHOWN_ID] + "…"


@dataclass(frozen=True, slots=True)
class MasterKey:
    material: bytes = field(repr=False)

    @staticmethod
    def generate() -> MasterKey:
        return MasterKey(secrets.token_bytes(_KEY_BYTES))

    @staticmethod
    def parse(text: str, where: str) -> MasterKey:
        """The key written as `text` (base64 of 32 bytes); `where` names it in errors."""
        problem = f"{where} does not hold a master key"
        try:
            material = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(
                f"{problem}: it is not base64; a master key is the base64 of 32 random "
                "bytes (make one with `openssl rand -base64 32`)"
            ) from None
        if len(material) != _KEY_BYTES:
            raise MasterKeyError(
                f"{problem}: it decodes to {len(material)} bytes, not {_KEY_BYTES}; make one "
                "with `openssl rand -base64 32`"
            )
        return MasterKey(material)

    @property
    def key_id(self) -> str:
        """A fingerprint of the key (not the key): what the database records."""
        return hashlib.sha256(_KEY_ID_CONTEXT + self.material).hexdigest()[:32]

    def text(self) -> str:
        return base64.b64encode(self.material).decode() + "\n"


@dataclass(frozen=True, slots=True)
class KeySource:
    """A key file (`path`), or the key itself (`text`, from CAMS_MASTER_KEY)."""

    path: Path | None = None
    text: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else MASTER_KEY_ENV

    @property
    def is_file(self) -> bool:
        return self.path is not None

    @property
    def staged_path(self) -> Path | None:
        """Where `keys rotate` puts the new key until the database is sealed under it."""
        return None if self.path is None else self.path.with_name(self.path.name + ".next")

    def read(self) -> MasterKey | None:
        """The key, or None when its file does not exist (yet)."""
        if self.path is None:
            return MasterKey.parse(self.text or "", MASTER_KEY_ENV)
        return _read_file(self.path)

    def read_or_create(self) -> MasterKey:
        """The key; a missing key file is created with a fresh key (for a database that is
        new or not sealed yet, never for a sealed one)."""
        key = self.read()
        if key is not None:
            return key
        assert self.path is not None  # an environment key is never missing
        # A missing directory is made private; an existing one is left as it is (it may be
        # /etc or a mount: CAMS_HOME itself is tightened by whoever opens it).
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = MasterKey.generate()
        if write_private_file(self.path, fresh.text().encode(), replace=False):
            log.warning(
                "created the master key %s (key id %s): back it up apart from the database; "
                "without it the secrets in the database cannot be opened",
                self.path,
                shown(fresh.key_id),
            )
            return fresh
        created = self.read()  # another process created it a moment ago
        assert created is not None
        return created

    def matching(self, key_id: str) -> MasterKey:
        """The key of this source whose id is `key_id`, read afresh (the file may have been
        replaced by `keys rotate`); a clear error when there is none."""
        key = self.read()
        if key is not None and key.key_id == key_id:
            return key
        staged_path = self.staged_path
        if staged_path is not None:
            staged = _read_file(staged_path)
            if staged is not None and staged.key_id == key_id:
                log.warning(
                    "using the master key in %s: a `keys rotate` sealed the database under it "
                    "and has not moved it to %s yet (if it was interrupted, move it there)",
                    staged_path,
                    self.path,
                )
                return staged
        if key is None:
            raise MasterKeyError(
                f"no master key: {self.path} does not exist, and this database was sealed "
                f"with key id {shown(key_id)}; restore that file from your backup, or give "
                f"the right --master-key-file or {MASTER_KEY_ENV}"
            )
        raise MasterKeyError(
            f"the master key in {self.where} does not open this database (it was sealed "
            f"with key id {shown(key_id)}; this key's id is {shown(key.key_id)}); give the "
            f"right --master-key-file or {MASTER_KEY_ENV}"
        )

    def stage(self, key: MasterKey) -> None:
        """Write `key` next to the key file, before the database is re-sealed under it."""
        staged = self.staged_path
        assert staged is not None
        write_private_file(staged, key.text().encode(), replace=True)

    @contextmanager
    def rotation_lock(self) -> Iterator[None]:
        """Held for a whole rotation through this key file (nothing for an environment key):
        two rotations at once would each stage a key and one would be lost."""
        if self.path is None:
            yield
            return
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def finish_rotation(self, key_id: str) -> None:
        """If the database's key (`key_id`) is still staged by an interrupted rotation, move
        it over the key file now, before anything else is staged over it."""
        staged_path = self.staged_path
        assert self.path is not None and staged_path is not None
        on_disk = self.read()
        staged = _read_file(staged_path)
        if (on_disk is None or on_disk.key_id != key_id) and staged and staged.key_id == key_id:
            log.warning(
                "finishing an interrupted rotation: moving %s to %s", staged_path, self.path
            )
            self.promote()

    def promote(self) -> None:
        """The staged key becomes the key file, atomically (after the database is sealed
        under it; a server reading the file meanwhile finds the staged key)."""
        assert self.path is not None and self.staged_path is not None
        os.replace(self.staged_path, self.path)
        sync_directory(self.path.parent)


def _read_file(path: Path) -> MasterKey | None:
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning(
            "the master key file %s is readable by others (mode %o): chmod 600 it; anyone "
            "who can read it and the database has every secret",
            path,
            mode,
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise MasterKeyError(f"cannot read the master key file {path}: {reason}") from None
    return MasterKey.parse(text, str(path))


def key_source(
    home: Path, key_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> KeySource:
    """Where the master key comes from: `key_file` (--master-key-file), else
    CAMS_MASTER_KEY, else `$CAMS_HOME/master.key`. The one place for this rule."""
    if key_file is not None:
        return KeySource(path=key_file)
    text = (os.environ if environ is None else environ).get(MASTER_KEY_ENV)
    if text:
        return KeySource(text=text)
    return KeySource(path=home / KEY_FILE_NAME)
