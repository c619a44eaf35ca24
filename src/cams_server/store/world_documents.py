"""One account of the world as the JSON document `world_accounts` stores.

The document is the validated `AccountSpec` field for field, under the same names (an
ISV code's expiry in ISO 8601, UTC): storing an account is one document, loading it
one document, whatever the account holds. AccessKey secrets are passed through the
caller's function both ways, so they are sealed inside the document and opened as it
is read (store/sealing.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cams_server.model.world import (
    AccessKeySpec,
    AccountSpec,
    GroupSpec,
    IsvCodeSpec,
    PolicySpec,
    RoleSpec,
    SpaceSpec,
    UserSpec,
)

__all__ = ["Document", "SecretChange", "account_document", "account_spec", "key_count"]

Document = dict[str, Any]
# (AccessKey id, secret) -> the secret as stored or as used: sealing binds it to the id.
SecretChange = Callable[[str, str], str]


def account_document(account: AccountSpec, secret: SecretChange) -> Document:
    """The account as JSON values, each AccessKey secret replaced by `secret(id, s)`."""

    def keys(specs: Iterable[AccessKeySpec]) -> list[Document]:
        return [{"id": k.id, "secret": secret(k.id, k.secret), "status": k.status} for k in specs]

    return {
        "id": account.id,
        "name": account.name,
        "cams": account.cams,
        "access_keys": keys(account.access_keys),
        "policies": [{"name": p.name, "document": p.document} for p in account.policies],
        "groups": [{"name": g.name, "policies": list(g.policies)} for g in account.groups],
        "users": [
            {
                "name": u.name,
                "groups": list(u.groups),
                "policies": list(u.policies),
                "access_keys": keys(u.access_keys),
            }
            for u in account.users
        ],
        "roles": [
            {
                "name": r.name,
                "trust": r.trust,
                "policies": list(r.policies),
                "max_session_duration": r.max_session_duration,
            }
            for r in account.roles
        ],
        "spaces": [
            {"id": s.id, "waba_id": s.waba_id, "isv_customer": s.isv_customer}
            for s in account.spaces
        ],
        "isv_codes": [
            {
                "code": c.code,
                "user": c.user,
                "spaces": list(c.spaces),
                "expires": None if c.expires is None else c.expires.astimezone(UTC).isoformat(),
            }
            for c in account.isv_codes
        ],
    }


def account_spec(doc: Mapping[str, Any], secret: SecretChange) -> AccountSpec:
    """The account a document holds, each AccessKey secret replaced by `secret(id, s)`."""

    def keys(docs: Iterable[Document]) -> tuple[AccessKeySpec, ...]:
        return tuple(
            AccessKeySpec(k["id"], secret(k["id"], k["secret"]), k["status"]) for k in docs
        )

    return AccountSpec(
        id=doc["id"],
        name=doc["name"],
        cams=doc["cams"],
        access_keys=keys(doc["access_keys"]),
        policies=tuple(PolicySpec(p["name"], p["document"]) for p in doc["policies"]),
        groups=tuple(GroupSpec(g["name"], tuple(g["policies"])) for g in doc["groups"]),
        users=tuple(
            UserSpec(u["name"], tuple(u["groups"]), tuple(u["policies"]), keys(u["access_keys"]))
            for u in doc["users"]
        ),
        roles=tuple(
            RoleSpec(r["name"], r["trust"], tuple(r["policies"]), r["max_session_duration"])
            for r in doc["roles"]
        ),
        spaces=tuple(SpaceSpec(s["id"], s["waba_id"], s["isv_customer"]) for s in doc["spaces"]),
        isv_codes=tuple(
            IsvCodeSpec(
                c["code"],
                c["user"],
                tuple(c["spaces"]),
                None if c["expires"] is None else datetime.fromisoformat(c["expires"]),
            )
            for c in doc["isv_codes"]
        ),
    )


def key_count(account: AccountSpec) -> int:
    """How many AccessKeys the account holds, its root's and its users'."""
    return len(account.access_keys) + sum(len(u.access_keys) for u in account.users)
