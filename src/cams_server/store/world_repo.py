"""Reading and writing the world in the database.

`apply_world` is declarative per account: every account the file declares is
replaced by the file's version of it, in one transaction; accounts it does not
mention are left alone, and ROI enablements (state, not world) are never touched.

AccessKey secrets are sealed as they are written and opened as the world is loaded
(store/sealing.py), under the data key read in the same transaction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, RowMapping, Table, delete, func, select

from cams_server.model.world import (
    DEFAULT_REGION,
    AccessKeySpec,
    AccountSpec,
    GroupSpec,
    IsvCodeSpec,
    PolicySpec,
    RoleSpec,
    SpaceSpec,
    UserSpec,
    World,
)
from cams_server.store.database import Database
from cams_server.store.schema import (
    WORLD_TABLES,
    access_keys,
    accounts,
    attachments,
    isv_codes,
    meta,
    policies,
    ram_groups,
    ram_roles,
    ram_users,
    spaces,
)
from cams_server.store.sealing import Sealer
from cams_server.world.validation import WorldError

__all__ = ["apply_world", "delete_accounts", "load_world_from"]

Row = dict[str, object]
# Ids unique across the deployment, not only within one file (validation sees only the
# file): what the file calls each, and the column that holds it.
_DEPLOYMENT_IDS: Mapping[str, Column[str]] = {
    "AccessKey": access_keys.c.id,
    "space": spaces.c.id,
    "ISV code": isv_codes.c.code,
}


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
        rows = (
            row
            for position, account in enumerate(world.accounts, _next_position(conn))
            for row in _account_rows(account, position, sealer)
        )
        _insert(conn, rows)
        _store_region(conn, world.region)
        Database.bump_world_version(conn)


def _refuse_conflicts(conn: Connection, world: World, source: str) -> None:
    """Raise `WorldError` when an id the file declares belongs to an account the file
    does not declare: replacing only the declared accounts would give it two owners (a
    key opening two accounts, a space billed to two). Reported in the file's order."""
    declared = {a.id for a in world.accounts}
    ids = list(_deployment_ids(world))
    owners = _owners(conn, ids)
    problems = []
    for what, value, path in ids:
        owner = owners.get((what, value))
        if owner is not None and owner not in declared:
            problems.append(
                f"{path}: {what} {value!r} already belongs to account {owner}, "
                "which this file does not declare"
            )
    if problems:
        raise WorldError(source, problems)


def _deployment_ids(world: World) -> Iterator[tuple[str, str, str]]:
    """(what, id, path in the file) of every id that must be unique deployment-wide."""
    for a_i, a in enumerate(world.accounts):
        at = f"accounts[{a_i}]"
        for i, k in enumerate(a.access_keys):
            yield "AccessKey", k.id, f"{at}.access_keys[{i}].id"
        for u_i, u in enumerate(a.users):
            for i, k in enumerate(u.access_keys):
                yield "AccessKey", k.id, f"{at}.users[{u_i}].access_keys[{i}].id"
        for i, s in enumerate(a.spaces):
            yield "space", s.id, f"{at}.spaces[{i}].id"
        for i, c in enumerate(a.isv_codes):
            yield "ISV code", c.code, f"{at}.isv_codes[{i}].code"


def _owners(conn: Connection, ids: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """The account that holds each of these ids now, by (what, id); none: a new id."""
    owners: dict[tuple[str, str], str] = {}
    for what, column in _DEPLOYMENT_IDS.items():
        values = [value for kind, value, _ in ids if kind == what]
        if values:
            query = select(column, column.table.c.account_id).where(column.in_(values))
            owners.update(((what, value), owner) for value, owner in conn.execute(query))
    return owners


def delete_accounts(conn: Connection, account_ids: list[str]) -> None:
    """Every world row of these accounts. `apply_world` replaces a declared account
    whole, so what the file no longer says about it (a removed key, user or space) is
    gone; `reset.remove_accounts` forgets accounts."""
    for table in WORLD_TABLES:
        column = table.c.id if table is accounts else table.c.account_id
        conn.execute(delete(table).where(column.in_(account_ids)))


def _next_position(conn: Connection) -> int:
    """Where the file's accounts go: after the accounts it leaves alone, which keep
    their places (the world loads in declaration order)."""
    last = conn.execute(select(func.max(accounts.c.position))).scalar()
    return 0 if last is None else last + 1


def _insert(conn: Connection, rows: Iterable[tuple[Table, Row]]) -> None:
    """The rows, batched by table: a large world is some 100,000 rows."""
    by_table: dict[Table, list[Row]] = defaultdict(list)
    for table, row in rows:
        by_table[table].append(row)
    for table in WORLD_TABLES:
        if by_table[table]:
            conn.execute(table.insert(), by_table[table])


def _row(table: Table, **values: object) -> tuple[Table, Row]:
    return table, values


def _account_rows(
    account: AccountSpec, position: int, sealer: Sealer
) -> Iterator[tuple[Table, Row]]:
    """One account as rows, table by table. Every list of the file keeps its order in
    `position`, so the account loads exactly as it was declared."""
    yield _row(accounts, id=account.id, name=account.name, cams=account.cams, position=position)
    yield from _key_rows(account.id, None, account.access_keys, sealer)
    yield from _ram_rows(account, sealer)
    yield from _cams_rows(account)


def _ram_rows(account: AccountSpec, sealer: Sealer) -> Iterator[tuple[Table, Row]]:
    """Policies, groups, users (with their AccessKeys) and roles, and what each holds."""
    a_id = account.id
    for i, p in enumerate(account.policies):
        yield _row(policies, account_id=a_id, name=p.name, document=p.document, position=i)
    for i, g in enumerate(account.groups):
        yield _row(ram_groups, account_id=a_id, name=g.name, position=i)
        yield from _attachment_rows(a_id, "group", g.name, [("policy", n) for n in g.policies])
    for i, u in enumerate(account.users):
        yield _row(ram_users, account_id=a_id, name=u.name, position=i)
        held = [("group", n) for n in u.groups] + [("policy", n) for n in u.policies]
        yield from _attachment_rows(a_id, "user", u.name, held)
        yield from _key_rows(a_id, u.name, u.access_keys, sealer)
    for i, r in enumerate(account.roles):
        yield _row(
            ram_roles,
            account_id=a_id,
            name=r.name,
            trust=r.trust,
            max_session_duration=r.max_session_duration,
            position=i,
        )
        yield from _attachment_rows(a_id, "role", r.name, [("policy", n) for n in r.policies])


def _cams_rows(account: AccountSpec) -> Iterator[tuple[Table, Row]]:
    """Spaces and ISV codes (a code's spaces as a JSON list, its expiry in epoch µs)."""
    for i, s in enumerate(account.spaces):
        yield _row(
            spaces,
            id=s.id,
            account_id=account.id,
            waba_id=s.waba_id,
            isv_customer=s.isv_customer,
            position=i,
        )
    for i, c in enumerate(account.isv_codes):
        yield _row(
            isv_codes,
            code=c.code,
            account_id=account.id,
            user_name=c.user,
            spaces=json.dumps(list(c.spaces)),
            expires_us=None if c.expires is None else int(c.expires.timestamp() * 1_000_000),
            position=i,
        )


def _key_rows(
    account_id: str, user: str | None, keys: Iterable[AccessKeySpec], sealer: Sealer
) -> Iterator[tuple[Table, Row]]:
    """AccessKeys of the account's root (`user` None) or of a RAM user, their secrets
    sealed: the database never holds one in clear."""
    for i, k in enumerate(keys):
        yield _row(
            access_keys,
            id=k.id,
            account_id=account_id,
            user_name=user,
            secret=sealer.seal_access_key(k.id, k.secret),
            status=k.status,
            position=i,
        )


def _attachment_rows(
    account_id: str, holder_kind: str, holder: str, targets: Iterable[tuple[str, str]]
) -> Iterator[tuple[Table, Row]]:
    """What a user, group or role holds: (target kind, name) in order. A target named
    twice is stored once; attaching it twice grants nothing more."""
    for i, (kind, name) in enumerate(dict.fromkeys(targets)):
        yield _row(
            attachments,
            account_id=account_id,
            holder_kind=holder_kind,
            holder_name=holder,
            target_kind=kind,
            target_name=name,
            position=i,
        )


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
        return _load(conn, db.sealer(conn))


def _load(conn: Connection, sealer: Sealer) -> World:
    """Every table read once, in position order, then each account rebuilt from its rows
    (a query per account would cost a round trip each: 10,000 on a large deployment)."""
    region = conn.execute(select(meta.c.value).where(meta.c.key == "region")).scalar()
    stored = _Stored(conn, sealer)
    rows = conn.execute(select(accounts).order_by(accounts.c.position)).mappings()
    return World(
        region=region or DEFAULT_REGION, accounts=tuple(_account_spec(r, stored) for r in rows)
    )


# Tables whose rows are looked up by account alone.
_PER_ACCOUNT = (policies, ram_groups, ram_users, ram_roles, spaces, isv_codes)


def _in_order(conn: Connection, table: Table) -> Iterator[RowMapping]:
    return iter(conn.execute(select(table).order_by(table.c.position)).mappings())


class _Stored:
    """The world's rows grouped the way specs are rebuilt: by account, AccessKeys by
    holder (secrets opened), attachments by holder and target kind. Rows are read in
    `position` order, so every group keeps the file's order."""

    def __init__(self, conn: Connection, sealer: Sealer) -> None:
        self._by_account: dict[Table, dict[str, list[RowMapping]]] = {}
        for table in _PER_ACCOUNT:
            self._by_account[table] = defaultdict(list)
            for row in _in_order(conn, table):
                self._by_account[table][row["account_id"]].append(row)
        self._keys: dict[tuple[str, str | None], list[AccessKeySpec]] = defaultdict(list)
        for k in _in_order(conn, access_keys):
            secret = sealer.unseal_access_key(k["id"], k["secret"])
            self._keys[k["account_id"], k["user_name"]].append(
                AccessKeySpec(k["id"], secret, k["status"])
            )
        self._targets: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        for t in _in_order(conn, attachments):
            holder = (t["account_id"], t["holder_kind"], t["holder_name"], t["target_kind"])
            self._targets[holder].append(t["target_name"])

    def rows(self, table: Table, account_id: str) -> list[RowMapping]:
        return self._by_account[table].get(account_id, [])

    def keys(self, account_id: str, user: str | None) -> tuple[AccessKeySpec, ...]:
        """The root's AccessKeys (`user` None) or a RAM user's."""
        return tuple(self._keys.get((account_id, user), ()))

    def targets(self, account_id: str, holder_kind: str, holder: str, kind: str) -> tuple[str, ...]:
        """The policies (or groups) a user, group or role holds, in order."""
        return tuple(self._targets.get((account_id, holder_kind, holder, kind), ()))


def _account_spec(row: RowMapping, stored: _Stored) -> AccountSpec:
    a_id: str = row["id"]
    return AccountSpec(
        id=a_id,
        name=row["name"],
        cams=bool(row["cams"]),
        access_keys=stored.keys(a_id, None),
        policies=tuple(PolicySpec(p["name"], p["document"]) for p in stored.rows(policies, a_id)),
        groups=tuple(
            GroupSpec(g["name"], stored.targets(a_id, "group", g["name"], "policy"))
            for g in stored.rows(ram_groups, a_id)
        ),
        users=tuple(_user_spec(a_id, u["name"], stored) for u in stored.rows(ram_users, a_id)),
        roles=tuple(_role_spec(a_id, r, stored) for r in stored.rows(ram_roles, a_id)),
        spaces=tuple(
            SpaceSpec(s["id"], s["waba_id"], s["isv_customer"]) for s in stored.rows(spaces, a_id)
        ),
        isv_codes=tuple(_isv_code_spec(c) for c in stored.rows(isv_codes, a_id)),
    )


def _user_spec(account_id: str, name: str, stored: _Stored) -> UserSpec:
    return UserSpec(
        name,
        stored.targets(account_id, "user", name, "group"),
        stored.targets(account_id, "user", name, "policy"),
        stored.keys(account_id, name),
    )


def _role_spec(account_id: str, row: RowMapping, stored: _Stored) -> RoleSpec:
    return RoleSpec(
        row["name"],
        row["trust"],
        stored.targets(account_id, "role", row["name"], "policy"),
        row["max_session_duration"],
    )


def _isv_code_spec(row: RowMapping) -> IsvCodeSpec:
    expires_us = row["expires_us"]
    return IsvCodeSpec(
        row["code"],
        row["user_name"],
        tuple(json.loads(row["spaces"])),
        None if expires_us is None else datetime.fromtimestamp(expires_us / 1e6, tz=UTC),
    )
