"""The world as one JSON document per account, instead of nine tables mapped by hand.

Revision ID: 0005
Revises: 0004

`world_accounts` holds each account's `AccountSpec` as a document (store/
world_documents.py), `world_ids` the ids unique across accounts (AccessKeys, spaces,
ISV codes) with their owner. The rows of the nine tables are converted as they are:
an AccessKey secret moves verbatim, sealed or (in a database not yet sealed) in
clear; its associated data names the key id (`access_key:<id>`), not a table, so it
opens where it lands. Reversible: the downgrade writes the rows back from the
documents (an attachment the file named twice is stored once, as before). The
conversion below is frozen here: later changes to the document belong to a later
migration.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Row = dict[str, Any]
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_OLD = (
    "access_keys",
    "policies",
    "ram_groups",
    "ram_users",
    "ram_roles",
    "attachments",
    "spaces",
    "isv_codes",
    "accounts",
)


def _documents_table() -> sa.TableClause:
    return sa.table(
        "world_accounts",
        sa.column("account_id", sa.String),
        sa.column("position", sa.Integer),
        sa.column("document", _JSON),
    )


def _ids_table() -> sa.TableClause:
    return sa.table(
        "world_ids",
        sa.column("kind", sa.String),
        sa.column("id", sa.String),
        sa.column("account_id", sa.String),
    )


def upgrade() -> None:
    op.create_table(
        "world_accounts",
        sa.Column("account_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("document", _JSON, nullable=False),
    )
    op.create_table(
        "world_ids",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_index("ix_world_ids_account_id", "world_ids", ["account_id"])
    conn = op.get_bind()
    rows = {name: _by_account(conn, name) for name in _OLD if name != "accounts"}
    documents: list[Row] = []
    ids: list[Row] = []
    for account in conn.execute(sa.text("SELECT * FROM accounts ORDER BY position")).mappings():
        doc = _document(dict(account), {name: by[account["id"]] for name, by in rows.items()})
        documents.append(
            {"account_id": doc["id"], "position": account["position"], "document": doc}
        )
        ids += [
            {"kind": kind, "id": value, "account_id": doc["id"]} for kind, value in _ids_of(doc)
        ]
    if documents:
        op.bulk_insert(_documents_table(), documents)
    if ids:
        op.bulk_insert(_ids_table(), ids)
    for name in _OLD:
        op.drop_table(name)


def _by_account(conn: sa.Connection, table: str) -> dict[str, list[Row]]:
    """A table's rows by account, each account's in the order the file declared them."""
    query = sa.text(f"SELECT * FROM {table} ORDER BY position")  # noqa: S608 (one of _OLD)
    out: dict[str, list[Row]] = defaultdict(list)
    for row in conn.execute(query).mappings():
        out[row["account_id"]].append(dict(row))
    return out


def _document(account: Row, rows: dict[str, list[Row]]) -> Row:
    """One account's rows as its document (the fields of `AccountSpec`)."""

    def held(kind: str, name: str, target: str) -> list[str]:
        return [
            t["target_name"]
            for t in rows["attachments"]
            if (t["holder_kind"], t["holder_name"], t["target_kind"]) == (kind, name, target)
        ]

    def keys(user: str | None) -> list[Row]:
        return [
            {"id": k["id"], "secret": k["secret"], "status": k["status"]}
            for k in rows["access_keys"]
            if k["user_name"] == user
        ]

    return {
        "id": account["id"],
        "name": account["name"],
        "cams": bool(account["cams"]),
        "access_keys": keys(None),
        "policies": [{"name": p["name"], "document": p["document"]} for p in rows["policies"]],
        "groups": [
            {"name": g["name"], "policies": held("group", g["name"], "policy")}
            for g in rows["ram_groups"]
        ],
        "users": [
            {
                "name": u["name"],
                "groups": held("user", u["name"], "group"),
                "policies": held("user", u["name"], "policy"),
                "access_keys": keys(u["name"]),
            }
            for u in rows["ram_users"]
        ],
        "roles": [
            {
                "name": r["name"],
                "trust": r["trust"],
                "policies": held("role", r["name"], "policy"),
                "max_session_duration": r["max_session_duration"],
            }
            for r in rows["ram_roles"]
        ],
        "spaces": [
            {"id": s["id"], "waba_id": s["waba_id"], "isv_customer": s["isv_customer"]}
            for s in rows["spaces"]
        ],
        "isv_codes": [
            {
                "code": c["code"],
                "user": c["user_name"],
                "spaces": json.loads(c["spaces"]),
                "expires": None
                if c["expires_us"] is None
                else datetime.fromtimestamp(c["expires_us"] / 1e6, tz=UTC).isoformat(),
            }
            for c in rows["isv_codes"]
        ],
    }


def _ids_of(doc: Row) -> Iterable[tuple[str, str]]:
    """The (kind, id) pairs of `world_ids`: the ids unique across accounts."""
    for k in doc["access_keys"]:
        yield "access_key", k["id"]
    for u in doc["users"]:
        for k in u["access_keys"]:
            yield "access_key", k["id"]
    for s in doc["spaces"]:
        yield "space", s["id"]
    for c in doc["isv_codes"]:
        yield "isv_code", c["code"]


def downgrade() -> None:
    """The nine tables again, their rows written from the documents."""
    _create_old_tables()
    conn = op.get_bind()
    documents = _documents_table()
    query = sa.select(documents.c.position, documents.c.document)
    rows: dict[str, list[Row]] = defaultdict(list)
    for position, doc in conn.execute(query):
        for name, row in _rows(doc, position):
            rows[name].append(row)
    for name in _OLD:
        if rows[name]:
            columns: list[sa.ColumnClause[Any]] = [sa.column(c) for c in rows[name][0]]
            op.bulk_insert(sa.table(name, *columns), rows[name])
    op.drop_table("world_ids")
    op.drop_table("world_accounts")


def _rows(doc: Row, position: int) -> Iterable[tuple[str, Row]]:
    """One account's document as the rows of the nine tables."""
    a_id = doc["id"]
    yield "accounts", {"id": a_id, "name": doc["name"], "cams": doc["cams"], "position": position}
    yield from _key_rows(a_id, None, doc["access_keys"])
    for i, p in enumerate(doc["policies"]):
        yield (
            "policies",
            {"account_id": a_id, "name": p["name"], "document": p["document"], "position": i},
        )
    for i, g in enumerate(doc["groups"]):
        yield "ram_groups", {"account_id": a_id, "name": g["name"], "position": i}
        yield from _attachment_rows(
            a_id, "group", g["name"], [("policy", n) for n in g["policies"]]
        )
    for i, u in enumerate(doc["users"]):
        yield "ram_users", {"account_id": a_id, "name": u["name"], "position": i}
        held = [("group", n) for n in u["groups"]] + [("policy", n) for n in u["policies"]]
        yield from _attachment_rows(a_id, "user", u["name"], held)
        yield from _key_rows(a_id, u["name"], u["access_keys"])
    for i, r in enumerate(doc["roles"]):
        yield (
            "ram_roles",
            {
                "account_id": a_id,
                "name": r["name"],
                "trust": r["trust"],
                "max_session_duration": r["max_session_duration"],
                "position": i,
            },
        )
        yield from _attachment_rows(a_id, "role", r["name"], [("policy", n) for n in r["policies"]])
    for i, s in enumerate(doc["spaces"]):
        yield "spaces", {**s, "account_id": a_id, "position": i}
    for i, c in enumerate(doc["isv_codes"]):
        expires = c["expires"]
        yield (
            "isv_codes",
            {
                "code": c["code"],
                "account_id": a_id,
                "user_name": c["user"],
                "spaces": json.dumps(c["spaces"]),
                "expires_us": None
                if expires is None
                else int(datetime.fromisoformat(expires).timestamp() * 1_000_000),
                "position": i,
            },
        )


def _key_rows(account_id: str, user: str | None, keys: list[Row]) -> Iterable[tuple[str, Row]]:
    for i, k in enumerate(keys):
        yield "access_keys", {**k, "account_id": account_id, "user_name": user, "position": i}


def _attachment_rows(
    account_id: str, kind: str, holder: str, targets: list[tuple[str, str]]
) -> Iterable[tuple[str, Row]]:
    for i, (target_kind, name) in enumerate(dict.fromkeys(targets)):
        yield (
            "attachments",
            {
                "account_id": account_id,
                "holder_kind": kind,
                "holder_name": holder,
                "target_kind": target_kind,
                "target_name": name,
                "position": i,
            },
        )


def _create_old_tables() -> None:
    """The nine tables as 0001 created them."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("cams", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_access_keys_account_id", "access_keys", ["account_id"])
    op.create_table(
        "policies",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name"),
    )
    for table in ("ram_groups", "ram_users"):
        op.create_table(
            table,
            sa.Column("account_id", sa.String(32), nullable=False),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("position", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("account_id", "name"),
        )
    op.create_table(
        "ram_roles",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("trust", sa.Text, nullable=False),
        sa.Column("max_session_duration", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name"),
    )
    op.create_table(
        "attachments",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_name", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(8), nullable=False),
        sa.Column("target_name", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "holder_kind", "holder_name", "target_kind", "target_name"
        ),
    )
    op.create_table(
        "spaces",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("waba_id", sa.String(64), nullable=True),
        sa.Column("isv_customer", sa.String(256), nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_spaces_account_id", "spaces", ["account_id"])
    op.create_table(
        "isv_codes",
        sa.Column("code", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("spaces", sa.Text, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_isv_codes_account_id", "isv_codes", ["account_id"])
