"""Secrets at rest: envelope encryption of every secret the database holds.

The database holds AccessKey secrets (inside the `world_accounts` documents) and the
server's own keys (`cams_meta` rows `sts_key`, which seals STS tokens, and
`diagnostic_key`). Anyone who can read the database file, or a PostgreSQL backup, must
learn none of them:

- A random 256-bit *data key* seals each value with AES-GCM. The associated data names
  what the value is the secret of (`access_key:<id>`, `meta:sts_key`), so a ciphertext
  copied to another key or row does not open. A sealed value is `s1:` +
  base64(nonce | ciphertext | tag).
- The *master key* (store/keyring.py; never in the database) seals the data key, in the
  `cams_meta` row `seal`: `{"v": 1, "key_id": ..., "data_key": ...}`. The key id (a
  fingerprint of the master key) tells a wrong master key from a damaged value exactly.
- The `seal` row is also the record that the database is sealed: once it exists a value
  that does not open is an error, never taken for cleartext. A database written by an
  older version (secrets in clear, no `seal` row) is sealed at its first start, in one
  transaction, and SQLite's freed pages and WAL are scrubbed of the old cleartext.

Unsealing happens when the world is loaded (and the server keys once at start); the
per-call path reads the in-memory directory and never touches this module.
`rotate_master_key` re-seals everything under a new master key and a new data key in
one transaction; servers that meet a key id they do not hold re-read their key source.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, bindparam, select, update

from cams_server.store.keyring import KeySource, MasterKey, SecretsError, shown
from cams_server.store.schema import meta, world_accounts
from cams_server.store.world_documents import (
    SecretChange,
    account_document,
    account_spec,
    key_count,
)

if TYPE_CHECKING:
    from cams_server.store.database import Database

__all__ = [
    "DIAGNOSTIC_KEY",
    "SEAL",
    "SERVER_KEYS",
    "STS_KEY",
    "SealError",
    "Sealer",
    "Vault",
    "rotate_master_key",
]

log = logging.getLogger("cams_server")

SEAL = "seal"
DIAGNOSTIC_KEY = "diagnostic_key"
STS_KEY = "sts_key"
SERVER_KEYS = (STS_KEY, DIAGNOSTIC_KEY)
_PREFIX = "s1:"
_NONCE = 12
_TAG = 16
_DATA_KEY_BYTES = 32
_SERVER_KEY_BYTES = 32


class SealError(SecretsError):
    """A sealed value does not open: altered, or copied from another row or database."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _seal(aead: AESGCM, aad: str, value: bytes) -> str:
    nonce = os.urandom(_NONCE)
    return _PREFIX + _b64(nonce + aead.encrypt(nonce, value, aad.encode()))


def _unseal(aead: AESGCM, aad: str, sealed: str) -> bytes | None:
    """The value, or None when `sealed` is not a value sealed for `aad` under `aead`."""
    if not sealed.startswith(_PREFIX):
        return None
    try:
        raw = base64.b64decode(sealed[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _NONCE + _TAG:
        return None
    try:
        return aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())
    except InvalidTag:
        return None


def _access_key_aad(key_id: str) -> str:
    return f"access_key:{key_id}"


def _meta_aad(name: str) -> str:
    return f"meta:{name}"


class Sealer:
    """Seals and opens values under one data key, each bound to its row."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)

    def seal_access_key(self, key_id: str, secret: str) -> str:
        return _seal(self._aead, _access_key_aad(key_id), secret.encode())

    def unseal_access_key(self, key_id: str, sealed: str) -> str:
        value = _unseal(self._aead, _access_key_aad(key_id), sealed)
        if value is None:
            raise SealError(
                f"the stored secret of AccessKey {key_id} does not open under this "
                "database's data key (it was altered, or copied from another row or database); "
                "apply the world file that declares it again to store it afresh"
            )
        return value.decode()

    def seal_server_key(self, name: str, value: bytes) -> str:
        return _seal(self._aead, _meta_aad(name), value)

    def unseal_server_key(self, name: str, sealed: str) -> bytes:
        value = _unseal(self._aead, _meta_aad(name), sealed)
        if value is None:
            raise SealError(
                f"the server's {name} in this database does not open under its data key (the "
                "cams_meta row was altered or copied from another database); restore the "
                "database from a backup"
            )
        return value


@dataclass(frozen=True, slots=True)
class _SealRow:
    key_id: str
    data_key: str  # sealed under the master key


def _read_seal(conn: Connection) -> _SealRow | None:
    value = conn.execute(select(meta.c.value).where(meta.c.key == SEAL)).scalar()
    if value is None:
        return None
    data = json.loads(value)
    return _SealRow(str(data["key_id"]), str(data["data_key"]))


def _write_seal(conn: Connection, master: MasterKey, data_key: bytes, *, insert: bool) -> str:
    sealed = _seal(AESGCM(master.material), _data_key_aad(master.key_id), data_key)
    value = json.dumps({"v": 1, "key_id": master.key_id, "data_key": sealed})
    if insert:
        conn.execute(meta.insert().values(key=SEAL, value=value))
    else:
        conn.execute(meta.update().where(meta.c.key == SEAL).values(value=value))
    return sealed


def _data_key_aad(key_id: str) -> str:
    return f"data_key:{key_id}"


def _meta_values(conn: Connection) -> dict[str, str]:
    rows = conn.execute(select(meta.c.key, meta.c.value).where(meta.c.key.in_(SERVER_KEYS)))
    return {str(k): str(v) for k, v in rows}


_UPDATE_DOCUMENT = (
    update(world_accounts)
    .where(world_accounts.c.account_id == bindparam("b_id"))
    .values(document=bindparam("b_document"))
)


def _replace_secrets(conn: Connection, change: SecretChange) -> int:
    """Every stored AccessKey secret replaced by `change(key id, secret)` (sealed, or
    re-sealed); how many there are."""
    rows = conn.execute(select(world_accounts.c.account_id, world_accounts.c.document)).all()
    accounts = [(i, account_spec(doc, change)) for i, doc in rows]
    if accounts:
        updates = [{"b_id": i, "b_document": account_document(a, _as_is)} for i, a in accounts]
        conn.execute(_UPDATE_DOCUMENT, updates)
    return sum(key_count(a) for _, a in accounts)


def _as_is(_key_id: str, secret: str) -> str:
    return secret


class Vault:
    """The master key, the unsealed data key and the server keys of one `Database`.

    It keeps the master key it last used; when the database names another key id (a
    rotation happened elsewhere) it reads its key source again, so a running server
    follows a rotated key file without a restart.
    """

    def __init__(self, source: KeySource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._master: MasterKey | None = None
        self._sealed_data_key: str | None = None
        self._sealer: Sealer | None = None
        self._server_keys: dict[str, bytes] = {}

    @property
    def master_key_id(self) -> str | None:
        return None if self._master is None else self._master.key_id

    def open(self, db: Database) -> None:
        """At start: seal a new database or one an older version wrote in clear (one
        transaction), or check the master key against a sealed one; unseal the server keys.
        """
        with db.secure_transaction() as conn:
            db.lock_world(conn)
            row = _read_seal(conn)
            migrated = 0
            if row is None:
                sealer, migrated = self._seal_database(conn)
            else:
                sealer = self._sealer_for(row)
            stored = _meta_values(conn)
            self._server_keys = {
                n: sealer.unseal_server_key(n, stored.get(n, "")) for n in SERVER_KEYS
            }
        if migrated:
            db.scrub(vacuum=True)
            log.warning(
                "sealed %d secret(s) this database held in clear (written by an older "
                "version) under master key id %s; copies of the old files or backups still "
                "hold them: treat those secrets as exposed and replace them",
                migrated,
                shown(self.master_key_id or ""),
            )

    def _seal_database(self, conn: Connection) -> tuple[Sealer, int]:
        """Seal every secret of a database that has no seal yet; how many were in clear."""
        master = self.source.read_or_create()
        data_key = secrets.token_bytes(_DATA_KEY_BYTES)
        sealer = Sealer(data_key)
        migrated = _replace_secrets(conn, sealer.seal_access_key)
        stored = _meta_values(conn)
        for name in SERVER_KEYS:
            if name in stored:  # an older version's key, in clear: keep it (tokens stay valid)
                sealed = sealer.seal_server_key(name, base64.b64decode(stored[name]))
                conn.execute(meta.update().where(meta.c.key == name).values(value=sealed))
                migrated += 1
            else:
                fresh = secrets.token_bytes(_SERVER_KEY_BYTES)
                conn.execute(
                    meta.insert().values(key=name, value=sealer.seal_server_key(name, fresh))
                )
        sealed_data_key = _write_seal(conn, master, data_key, insert=True)
        self._adopt(master, sealed_data_key, sealer)
        return sealer, migrated

    def _adopt(self, master: MasterKey, sealed_data_key: str, sealer: Sealer) -> None:
        with self._lock:
            self._master, self._sealed_data_key, self._sealer = master, sealed_data_key, sealer

    def _sealer_for(self, row: _SealRow) -> Sealer:
        with self._lock:
            if self._sealer is not None and row.data_key == self._sealed_data_key:
                return self._sealer
            master = self._master
        if master is None or master.key_id != row.key_id:
            master = self.source.matching(row.key_id)
        data_key = _unseal(AESGCM(master.material), _data_key_aad(row.key_id), row.data_key)
        if data_key is None:
            raise SealError(
                f"the data key of this database does not open under master key id "
                f"{shown(row.key_id)} although the key id matches (the cams_meta row 'seal' "
                "was altered); restore the database from a backup"
            )
        sealer = Sealer(data_key)
        self._adopt(master, row.data_key, sealer)
        return sealer

    def sealer(self, conn: Connection) -> Sealer:
        """The sealer of the data key the database holds now (read in `conn`'s transaction,
        so it matches the rows read or written there)."""
        row = _read_seal(conn)
        if row is None:
            raise SealError(
                "this database has no seal record although this server sealed it (the "
                "cams_meta row 'seal' was deleted); restore the database from a backup"
            )
        return self._sealer_for(row)

    def server_key(self, name: str) -> bytes:
        """The server's own key `name`, unsealed by `open` (which migrate() calls)."""
        if name not in self._server_keys:
            raise RuntimeError("the server keys are unsealed by Database.migrate(): call it first")
        return self._server_keys[name]

    def current_key_id(self, db: Database) -> str:
        """The id of the master key the database is sealed under now, with that key in hand
        (read afresh from the source if it changed since)."""
        with db.transaction() as conn:
            self.sealer(conn)
        assert self._master is not None
        return self._master.key_id

    def reseal(self, db: Database, new: MasterKey, renew_server_keys: bool = False) -> int:
        """Every sealed value re-sealed under a new data key sealed by `new`, in one
        transaction; the number of values re-sealed. With `renew_server_keys`, the STS
        and diagnostic keys are replaced by fresh ones instead (see `rotate_master_key`)."""
        with db.secure_transaction() as conn:
            db.lock_world(conn)
            old = self.sealer(conn)
            data_key = secrets.token_bytes(_DATA_KEY_BYTES)
            fresh = Sealer(data_key)
            keys = _replace_secrets(
                conn, lambda i, s: fresh.seal_access_key(i, old.unseal_access_key(i, s))
            )
            stored = _meta_values(conn)
            for name, value in stored.items():
                plain = (
                    secrets.token_bytes(_SERVER_KEY_BYTES)
                    if renew_server_keys
                    else old.unseal_server_key(name, value)
                )
                conn.execute(
                    meta.update()
                    .where(meta.c.key == name)
                    .values(value=fresh.seal_server_key(name, plain))
                )
            sealed_data_key = _write_seal(conn, new, data_key, insert=False)
        self._adopt(new, sealed_data_key, fresh)
        db.scrub(vacuum=False)
        return keys + len(stored)


def rotate_master_key(db: Database, new: MasterKey, renew_server_keys: bool = False) -> int:
    """Re-seal every secret under `new` (and a new data key) in one transaction; the
    number of values re-sealed.

    `renew_server_keys` also replaces the server's own keys: the STS key (so no STS
    credential minted with the old one, say from a copy of the database made before it
    was sealed, opens any more) and the diagnostic key. Servers read them at start: the
    renewal takes effect as each restarts, and ends every outstanding STS credential.

    When the master key lives in a file, `new` is staged next to it before the
    transaction and moved over it (atomically) after the commit: at every moment the
    database's key is on disk, in the file or in `<file>.next`, where servers look for
    it. Rotations through one key file are serialised by a lock file.
    """
    vault = db.vault
    assert vault is not None, "open the Database with a master key source"
    source = vault.source
    with source.rotation_lock():
        current = vault.current_key_id(db)
        if current == new.key_id:
            raise SecretsError(
                f"the new master key is the one already in use (key id {shown(new.key_id)}); "
                "give another --new-master-key-file, or none to generate a fresh key"
            )
        if source.is_file:
            source.finish_rotation(current)
            source.stage(new)
        count = vault.reseal(db, new, renew_server_keys)
        if source.is_file:
            source.promote()
    return count
