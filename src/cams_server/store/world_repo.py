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
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, Table, delete, select

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

__all__ = ["apply_world", "load_world_from"]


def _us(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1_000_000)


def _conflicts(conn: Connection, world: World, source: str) -> None:
    """Ids that must be unique across the deployment, held by an account not in the file."""
    declared = {a.id for a in world.accounts}
    problems: list[str] = []

    def check(table: Table, column: str, values: Iterable[tuple[str, str]], what: str) -> None:
        by_value = dict(values)
        if not by_value:
            return
        col = table.c[column]
        rows = conn.execute(select(col, table.c.account_id).where(col.in_(list(by_value)))).all()
        for value, owner in rows:
            if owner not in declared:
                problems.append(
                    f"{by_value[value]}: {what} {value!r} already belongs to account {owner}, "
                    "which this file does not declare"
                )

    keys: list[tuple[str, str]] = []
    space_ids: list[tuple[str, str]] = []
    codes: list[tuple[str, str]] = []
    for a_i, a in enumerate(world.accounts):
        keys += [
            (k.id, f"accounts[{a_i}].access_keys[{i}].id") for i, k in enumerate(a.access_keys)
        ]
        for u_i, u in enumerate(a.users):
            keys += [
                (k.id, f"accounts[{a_i}].users[{u_i}].access_keys[{i}].id")
                for i, k in enumerate(u.access_keys)
            ]
        space_ids += [(s.id, f"accounts[{a_i}].spaces[{i}].id") for i, s in enumerate(a.spaces)]
        codes += [
            (c.code, f"accounts[{a_i}].isv_codes[{i}].code") for i, c in enumerate(a.isv_codes)
        ]
    check(access_keys, "id", keys, "AccessKey")
    check(spaces, "id", space_ids, "space")
    check(isv_codes, "code", codes, "ISV code")
    if problems:
        raise WorldError(source, problems)


def _insert(conn: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    if rows:
        conn.execute(table.insert(), rows)


def apply_world(db: Database, world: World, source: str) -> None:
    """Write a validated world; all or nothing. Raises `WorldError` on conflicts."""
    with db.transaction() as conn:
        db.lock_world(conn)
        sealer = db.sealer(conn)
        _conflicts(conn, world, source)
        ids = [a.id for a in world.accounts]
        for table in WORLD_TABLES:
            column = table.c.id if table is accounts else table.c.account_id
            conn.execute(delete(table).where(column.in_(ids)))
        existing = conn.execute(select(accounts.c.position)).scalars().all()
        base = max(existing, default=-1) + 1
        rows: dict[str, list[dict[str, object]]] = defaultdict(list)
        for a_i, a in enumerate(world.accounts):
            rows["accounts"].append(
                {"id": a.id, "name": a.name, "cams": a.cams, "position": base + a_i}
            )
            for i, k in enumerate(a.access_keys):
                rows["access_keys"].append(
                    {
                        "id": k.id,
                        "account_id": a.id,
                        "user_name": None,
                        "secret": sealer.seal_access_key(k.id, k.secret),
                        "status": k.status,
                        "position": i,
                    }
                )
            for i, p in enumerate(a.policies):
                rows["policies"].append(
                    {"account_id": a.id, "name": p.name, "document": p.document, "position": i}
                )
            for i, g in enumerate(a.groups):
                rows["ram_groups"].append({"account_id": a.id, "name": g.name, "position": i})
                for j, p_name in enumerate(dict.fromkeys(g.policies)):
                    rows["attachments"].append(
                        {
                            "account_id": a.id,
                            "holder_kind": "group",
                            "holder_name": g.name,
                            "target_kind": "policy",
                            "target_name": p_name,
                            "position": j,
                        }
                    )
            for i, u in enumerate(a.users):
                rows["ram_users"].append({"account_id": a.id, "name": u.name, "position": i})
                targets = [("group", n) for n in dict.fromkeys(u.groups)]
                targets += [("policy", n) for n in dict.fromkeys(u.policies)]
                for j, (kind, name) in enumerate(targets):
                    rows["attachments"].append(
                        {
                            "account_id": a.id,
                            "holder_kind": "user",
                            "holder_name": u.name,
                            "target_kind": kind,
                            "target_name": name,
                            "position": j,
                        }
                    )
                for j, k in enumerate(u.access_keys):
                    rows["access_keys"].append(
                        {
                            "id": k.id,
                            "account_id": a.id,
                            "user_name": u.name,
                            "secret": sealer.seal_access_key(k.id, k.secret),
                            "status": k.status,
                            "position": j,
                        }
                    )
            for i, r in enumerate(a.roles):
                rows["ram_roles"].append(
                    {
                        "account_id": a.id,
                        "name": r.name,
                        "trust": r.trust,
                        "max_session_duration": r.max_session_duration,
                        "position": i,
                    }
                )
                for j, p_name in enumerate(dict.fromkeys(r.policies)):
                    rows["attachments"].append(
                        {
                            "account_id": a.id,
                            "holder_kind": "role",
                            "holder_name": r.name,
                            "target_kind": "policy",
                            "target_name": p_name,
                            "position": j,
                        }
                    )
            for i, s in enumerate(a.spaces):
                rows["spaces"].append(
                    {
                        "id": s.id,
                        "account_id": a.id,
                        "waba_id": s.waba_id,
                        "isv_customer": s.isv_customer,
                        "position": i,
                    }
                )
            for i, c in enumerate(a.isv_codes):
                rows["isv_codes"].append(
                    {
                        "code": c.code,
                        "account_id": a.id,
                        "user_name": c.user,
                        "spaces": json.dumps(list(c.spaces)),
                        "expires_us": _us(c.expires),
                        "position": i,
                    }
                )
        for table in WORLD_TABLES:
            _insert(conn, table, rows[table.name])
        region = conn.execute(select(meta.c.value).where(meta.c.key == "region")).scalar()
        if region is None:
            conn.execute(meta.insert().values(key="region", value=world.region))
        elif region != world.region:
            conn.execute(meta.update().where(meta.c.key == "region").values(value=world.region))
        Database.bump_world_version(conn)


def load_world_from(db: Database) -> World:
    """The whole world as stored, in declaration order, its secrets opened."""
    with db.snapshot() as conn:
        return _load(conn, db.sealer(conn))


def _load(conn: Connection, sealer: Sealer) -> World:
    region = conn.execute(select(meta.c.value).where(meta.c.key == "region")).scalar()

    def by_account(table: Table) -> dict[str, list[dict[str, object]]]:
        out: dict[str, list[dict[str, object]]] = defaultdict(list)
        for row in conn.execute(select(table).order_by(table.c.position)).mappings():
            out[str(row["account_id"])].append(dict(row))
        return out

    keys = by_account(access_keys)
    pols = by_account(policies)
    groups = by_account(ram_groups)
    users = by_account(ram_users)
    roles = by_account(ram_roles)
    attached = by_account(attachments)
    space_rows = by_account(spaces)
    code_rows = by_account(isv_codes)

    def targets(account_id: str, holder_kind: str, holder: str, kind: str) -> tuple[str, ...]:
        return tuple(
            str(r["target_name"])
            for r in attached[account_id]
            if r["holder_kind"] == holder_kind
            and r["holder_name"] == holder
            and r["target_kind"] == kind
        )

    def key_specs(rows: Iterable[dict[str, object]]) -> tuple[AccessKeySpec, ...]:
        return tuple(
            AccessKeySpec(
                str(r["id"]),
                sealer.unseal_access_key(str(r["id"]), str(r["secret"])),
                str(r["status"]),
            )
            for r in rows
        )

    result: list[AccountSpec] = []
    for row in conn.execute(select(accounts).order_by(accounts.c.position)).mappings():
        a_id = str(row["id"])
        result.append(
            AccountSpec(
                id=a_id,
                name=str(row["name"]),
                cams=bool(row["cams"]),
                access_keys=key_specs(k for k in keys[a_id] if k["user_name"] is None),
                policies=tuple(PolicySpec(str(p["name"]), str(p["document"])) for p in pols[a_id]),
                groups=tuple(
                    GroupSpec(str(g["name"]), targets(a_id, "group", str(g["name"]), "policy"))
                    for g in groups[a_id]
                ),
                users=tuple(
                    UserSpec(
                        str(u["name"]),
                        targets(a_id, "user", str(u["name"]), "group"),
                        targets(a_id, "user", str(u["name"]), "policy"),
                        key_specs(k for k in keys[a_id] if k["user_name"] == u["name"]),
                    )
                    for u in users[a_id]
                ),
                roles=tuple(
                    RoleSpec(
                        str(r["name"]),
                        str(r["trust"]),
                        targets(a_id, "role", str(r["name"]), "policy"),
                        int(str(r["max_session_duration"])),
                    )
                    for r in roles[a_id]
                ),
                spaces=tuple(
                    SpaceSpec(
                        str(s["id"]),
                        None if s["waba_id"] is None else str(s["waba_id"]),
                        None if s["isv_customer"] is None else str(s["isv_customer"]),
                    )
                    for s in space_rows[a_id]
                ),
                isv_codes=tuple(
                    IsvCodeSpec(
                        str(c["code"]),
                        str(c["user_name"]),
                        tuple(json.loads(str(c["spaces"]))),
                        None
                        if c["expires_us"] is None
                        else datetime.fromtimestamp(int(str(c["expires_us"])) / 1e6, tz=UTC),
                    )
                    for c in code_rows[a_id]
                ),
            )
        )
    return World(region=region or DEFAULT_REGION, accounts=tuple(result))
