"""Migration 0005: the nine world tables of 0004 become one document per account, and the
downgrade writes the same rows back.

The rows are written as the previous version's `world apply` wrote them (secrets in
clear, as a database no version has sealed yet holds them), straight into the 0004
schema: the test does not rely on the writer it replaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from cams_server.model.world import (
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
from cams_server.store.keyring import KeySource, MasterKey
from cams_server.store.schema import world_accounts, world_ids
from cams_server.store.world_repo import load_world_from

ACME, GLOBEX = "1000000000000001", "2000000000000002"
POLICY = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:*","Resource":"*"}]}'
TRUST = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"RAM":["acs:ram::1000000000000001:root"]}}]}'
)
EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


def key(
    key_id: str, account: str, user: str | None, position: int, status: str = "Active"
) -> dict[str, Any]:
    return {
        "id": key_id,
        "account_id": account,
        "user_name": user,
        "secret": f"secret-of-{key_id}",
        "status": status,
        "position": position,
    }


def attached(
    kind: str, holder: str, target_kind: str, target: str, position: int
) -> dict[str, Any]:
    return {
        "account_id": ACME,
        "holder_kind": kind,
        "holder_name": holder,
        "target_kind": target_kind,
        "target_name": target,
        "position": position,
    }


ROWS_0004: dict[str, list[dict[str, Any]]] = {
    "accounts": [
        {"id": ACME, "name": "acme", "cams": True, "position": 0},
        {"id": GLOBEX, "name": "globex", "cams": False, "position": 1},
    ],
    "access_keys": [
        key("LTAI5tRootAcme01", ACME, None, 0),
        key("LTAI5tRootAcme02", ACME, None, 1, "Inactive"),
        key("LTAI5tAliceKey01", ACME, "alice", 0),
        key("LTAI5tRootGlobex", GLOBEX, None, 0),
    ],
    "policies": [{"account_id": ACME, "name": "CamsAll", "document": POLICY, "position": 0}],
    "ram_groups": [{"account_id": ACME, "name": "ops", "position": 0}],
    "ram_users": [
        {"account_id": ACME, "name": "alice", "position": 0},
        {"account_id": ACME, "name": "bob", "position": 1},
    ],
    "ram_roles": [
        {
            "account_id": ACME,
            "name": "operator",
            "trust": TRUST,
            "max_session_duration": 7200,
            "position": 0,
        }
    ],
    "attachments": [
        attached("group", "ops", "policy", "CamsAll", 0),
        attached("user", "alice", "group", "ops", 0),
        attached("user", "alice", "policy", "CamsAll", 1),
        attached("role", "operator", "policy", "CamsAll", 0),
    ],
    "spaces": [
        {
            "id": "cams-acme-main",
            "account_id": ACME,
            "waba_id": "1022",
            "isv_customer": None,
            "position": 0,
        },
        {
            "id": "cams-acme-cust",
            "account_id": ACME,
            "waba_id": None,
            "isv_customer": "Customer One",
            "position": 1,
        },
    ],
    "isv_codes": [
        {
            "code": "code-0001",
            "account_id": ACME,
            "user_name": "alice",
            "spaces": '["cams-acme-cust"]',
            "expires_us": int(EXPIRES.timestamp() * 1_000_000),
            "position": 0,
        },
        {
            "code": "code-0002",
            "account_id": ACME,
            "user_name": "bob",
            "spaces": "[]",
            "expires_us": None,
            "position": 1,
        },
    ],
}

WORLD = World(
    region="eu-central-1",
    accounts=(
        AccountSpec(
            id=ACME,
            name="acme",
            access_keys=(
                AccessKeySpec("LTAI5tRootAcme01", "secret-of-LTAI5tRootAcme01"),
                AccessKeySpec("LTAI5tRootAcme02", "secret-of-LTAI5tRootAcme02", "Inactive"),
            ),
            policies=(PolicySpec("CamsAll", POLICY),),
            groups=(GroupSpec("ops", ("CamsAll",)),),
            users=(
                UserSpec(
                    "alice",
                    ("ops",),
                    ("CamsAll",),
                    (AccessKeySpec("LTAI5tAliceKey01", "secret-of-LTAI5tAliceKey01"),),
                ),
                UserSpec("bob"),
            ),
            roles=(RoleSpec("operator", TRUST, ("CamsAll",), 7200),),
            spaces=(
                SpaceSpec("cams-acme-main", "1022"),
                SpaceSpec("cams-acme-cust", isv_customer="Customer One"),
            ),
            isv_codes=(
                IsvCodeSpec("code-0001", "alice", ("cams-acme-cust",), EXPIRES),
                IsvCodeSpec("code-0002", "bob"),
            ),
        ),
        AccountSpec(
            id=GLOBEX,
            name="globex",
            cams=False,
            access_keys=(AccessKeySpec("LTAI5tRootGlobex", "secret-of-LTAI5tRootGlobex"),),
        ),
    ),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cams.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def alembic(db: Database, move: str, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("cams_server.store").joinpath("migrations"))
    )
    with db.transaction() as conn:
        config.attributes["connection"] = conn
        getattr(command, move)(config, revision)


def rows_of(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of the nine tables, as the database returns them typed."""
    reflected = sa.MetaData()
    with db.transaction() as conn:
        reflected.reflect(conn, only=list(ROWS_0004))
        return {
            name: [dict(r) for r in conn.execute(sa.select(reflected.tables[name])).mappings()]
            for name in ROWS_0004
        }


def by_identity(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def test_the_world_tables_become_documents_and_back(url: str) -> None:
    key = KeySource(text=MasterKey.generate().text())
    db = Database(url, key)
    try:
        alembic(db, "upgrade", "0004")
        with db.transaction() as conn:
            conn.execute(sa.text("INSERT INTO cams_meta VALUES ('region', 'eu-central-1')"))
        reflected = sa.MetaData()
        with db.transaction() as conn:
            reflected.reflect(conn, only=list(ROWS_0004))
            for name, rows in ROWS_0004.items():
                conn.execute(reflected.tables[name].insert(), rows)

        db.migrate()  # to head; the secrets, in clear, are then sealed in their documents
        assert load_world_from(db) == WORLD
        with db.transaction() as conn:
            documents = conn.execute(sa.select(sa.cast(world_accounts.c.document, sa.Text)))
            stored = "\n".join(documents.scalars())
            ids = {tuple(row) for row in conn.execute(sa.select(world_ids))}
        assert "secret-of-" not in stored
        assert stored.count('"s1:') == len(ROWS_0004["access_keys"])
        assert ids == {
            ("space", "cams-acme-main", ACME),
            ("space", "cams-acme-cust", ACME),
            ("isv_code", "code-0001", ACME),
            ("isv_code", "code-0002", ACME),
            ("access_key", "LTAI5tRootAcme01", ACME),
            ("access_key", "LTAI5tRootAcme02", ACME),
            ("access_key", "LTAI5tAliceKey01", ACME),
            ("access_key", "LTAI5tRootGlobex", GLOBEX),
        }

        alembic(db, "downgrade", "0004")
        back = rows_of(db)
        with db.transaction() as conn:
            sealer = db.sealer(conn)
        for row in back["access_keys"]:  # moved as they are: sealed now, for the same key id
            assert row["secret"].startswith("s1:")
            row["secret"] = sealer.unseal_access_key(row["id"], row["secret"])
        for name, rows in ROWS_0004.items():
            assert by_identity(back[name]) == by_identity(rows), name

        alembic(db, "upgrade", "head")
        assert load_world_from(db) == WORLD
    finally:
        db.dispose()
