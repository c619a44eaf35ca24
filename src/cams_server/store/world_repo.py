"""Reading and writing the world in the database.

`apply_world` is declarative per account: every account the file declares is
replaced by the file's version of it, in one transaction; accounts it does not
mention are left alone, and ROI enablements (state, not world) are never touched.

Each account is one JSON document in `world_accounts` (store/world_documents.py), its
AccessKey secrets sealed inside it key by key, bound to the key id as before
(`access_key:<id>`, store/sealing.py), under the data key read in the same
transaction. `world_ids` holds the ids that must be unique across accounts with their
owner, so a conflict is found, and a second owner refused by its primary key,
without reading documents.

Why documents (migration 0005) rather than the nine tables mapped by hand before: the
world is only ever read whole (at start, and whenever `world_version` changes) and
replaced per account, so no query needs its parts, and one document per account
replaces a row mapping and a regrouping per kind with one field-for-field encoding.
It is also faster (bench/world_store.py, 10,000 accounts of a root key, a RAM user
with a key, a policy, a role, two spaces and an ISV code; seconds, median of 3 runs):

                              apply  re-apply  load
    SQLite, tables             1.29      1.43  1.29
    SQLite, documents          1.16      1.43  0.52
    PostgreSQL, tables         4.52      4.58  1.41
    PostgreSQL, documents      2.84      2.89  0.61
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from sqlalchemy import Connection, delete, func, select

from cams_server.model.world import DEFAULT_REGION, AccountSpec, World
from cams_server.store.database import Database, in_batches
from cams_server.store.schema import WORLD_TABLES, meta, world_accounts, world_ids
from cams_server.store.sealing import Sealer
from cams_server.store.world_documents import account_document, account_spec
from cams_server.world.validation import WorldError

__all__ = ["apply_world", "delete_accounts", "load_world_from"]

# The kinds of `world_ids`: ids unique across the deployment, not only within one file
# (validation sees only the file), and what the file calls each.
_KINDS: Mapping[str, str] = {"access_key": "AccessKey", "space": "space", "isv_code": "ISV code"}


# -- writing -------------------------------------------------------------------------------------


def apply_world(db: Database, world: World, source: str) -> None:
    """Write a validated world; all or nothing. Raises `WorldError` on conflicts.

    One transaction under the world lock: servers reloading (`load_world_from` reads
    a snapshot) see the world before or after, never half of it.
    """
    with db.transaction() as conn:
        db.lock_world(conn)
        sealer = db.sealer(conn)
        _refuse_conflicts(conn, world, source)
        delete_accounts(conn, [a.id for a in world.accounts])
        _insert_accounts(conn, world.accounts, sealer)
        _store_region(conn, world.region)
        Database.bump_world_version(conn)


def _insert_accounts(conn: Connection, accounts: Sequence[AccountSpec], sealer: Sealer) -> None:
    """Each account as its document, secrets sealed, placed after the accounts already
    stored; and its deployment-wide ids in `world_ids`."""
    first = _next_position(conn)
    documents = [
        {
            "account_id": a.id,
            "position": first + i,
            "document": account_document(a, sealer.seal_access_key),
        }
        for i, a in enumerate(accounts)
    ]
    ids = [
        {"kind": kind, "id": value, "account_id": a.id}
        for a in accounts
        for kind, value, _ in _deployment_ids(a)
    ]
    for table, rows in ((world_accounts, documents), (world_ids, ids)):
        if rows:
            conn.execute(table.insert(), rows)


def _refuse_conflicts(conn: Connection, world: World, source: str) -> None:
    """Raise `WorldError` when an id the file declares belongs to an account the file
    does not declare: replacing only the declared accounts would give it two owners (a
    key opening two accounts, a space billed to two). Reported in the file's order."""
    declared = {a.id for a in world.accounts}
    ids = [
        (kind, value, f"accounts[{a_i}].{where}")
        for a_i, a in enumerate(world.accounts)
        for kind, value, where in _deployment_ids(a)
    ]
    owners = _owners(conn, [(kind, value) for kind, value, _ in ids])
    problems = []
    for kind, value, path in ids:
        owner = owners.get((kind, value))
        if owner is not None and owner not in declared:
            problems.append(
                f"{path}: {_KINDS[kind]} {value!r} already belongs to account {owner}, "
                "which this file does not declare"
            )
    if problems:
        raise WorldError(source, problems)


def _deployment_ids(account: AccountSpec) -> Iterator[tuple[str, str, str]]:
    """(kind, id, path in the account) of the account's ids unique deployment-wide."""
    for i, k in enumerate(account.access_keys):
        yield "access_key", k.id, f"access_keys[{i}].id"
    for u_i, u in enumerate(account.users):
        for i, k in enumerate(u.access_keys):
            yield "access_key", k.id, f"users[{u_i}].access_keys[{i}].id"
    for i, s in enumerate(account.spaces):
        yield "space", s.id, f"spaces[{i}].id"
    for i, c in enumerate(account.isv_codes):
        yield "isv_code", c.code, f"isv_codes[{i}].code"


def _owners(conn: Connection, ids: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The account that holds each of these (kind, id) now; none: a new id."""
    owners: dict[tuple[str, str], str] = {}
    for kind in _KINDS:
        values = [value for k, value in ids if k == kind]
        for batch in in_batches(values):
            query = select(world_ids.c.id, world_ids.c.account_id).where(
                world_ids.c.kind == kind, world_ids.c.id.in_(batch)
            )
            owners.update(((kind, value), owner) for value, owner in conn.execute(query))
    return owners


def delete_accounts(conn: Connection, account_ids: list[str]) -> None:
    """Every world row of these accounts. `apply_world` replaces a declared account
    whole, so what the file no longer says about it (a removed key, user or space) is
    gone; `reset.remove_accounts` forgets accounts."""
    for table in WORLD_TABLES:
        for batch in in_batches(account_ids):
            conn.execute(delete(table).where(table.c.account_id.in_(batch)))


def _next_position(conn: Connection) -> int:
    """Where the file's accounts go: after the accounts it leaves alone, which keep
    their places (the world loads in declaration order)."""
    last = conn.execute(select(func.max(world_accounts.c.position))).scalar()
    return 0 if last is None else last + 1


def _store_region(conn: Connection, region: str) -> None:
    """The deployment's region is the last applied file's: ARNs and endpoints name one."""
    stored = conn.execute(select(meta.c.value).where(meta.c.key == "region")).scalar()
    if stored is None:
        conn.execute(meta.insert().values(key="region", value=region))
    elif stored != region:
        conn.execute(meta.update().where(meta.c.key == "region").values(value=region))


# -- reading -------------------------------------------------------------------------------------


def load_world_from(db: Database) -> World:
    """The whole world as stored, in declaration order, its secrets opened."""
    with db.snapshot() as conn:
        sealer = db.sealer(conn)
        region = conn.execute(select(meta.c.value).where(meta.c.key == "region")).scalar()
        documents = conn.execute(
            select(world_accounts.c.document).order_by(world_accounts.c.position)
        ).scalars()
        accounts = tuple(account_spec(d, sealer.unseal_access_key) for d in documents)
        return World(region=region or DEFAULT_REGION, accounts=accounts)
