"""The world file (TOML): reading it strictly, and writing it back.

Unknown keys and wrong types are refused with their path; `validate_world` then
checks ids and references. `dump_world` writes a file that `load_world` reads back
to the same world, which is what `cams-server world export` prints.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

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
from cams_server.world.validation import WorldError, validate_world

__all__ = ["dump_world", "load_world", "parse_world"]

T = TypeVar("T")


class _Reader:
    """Walks the parsed TOML, collecting every structural problem with its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def table(self, raw: object, path: str, allowed: Mapping[str, bool]) -> dict[str, Any] | None:
        """`allowed` maps each key to whether it is required."""
        if not isinstance(raw, dict):
            self.problems.append(f"{path or '(top level)'}: expected a table")
            return None
        for key in raw:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.problems.append(f"{where}: unknown key; allowed here: {', '.join(allowed)}")
        for key, required in allowed.items():
            if required and key not in raw:
                where = f"{path}.{key}" if path else key
                self.problems.append(f"{where}: required key is missing")
        return raw

    def get(self, raw: Mapping[str, Any], key: str, path: str, kind: type[T], default: T) -> T:
        if key not in raw:
            return default
        value = raw[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.problems.append(f"{path}.{key}: expected {kind.__name__}, got {value!r}")
            return default
        if kind is str and not value:
            self.problems.append(f"{path}.{key}: must not be empty")
        typed: T = value
        return typed

    def strings(self, raw: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{path}.{key}: expected a list of strings")
            return ()
        return tuple(value)

    def items(
        self, raw: Mapping[str, Any], key: str, path: str, build: Callable[[object, str], T | None]
    ) -> tuple[T, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            self.problems.append(f"{path}.{key}: expected an array of tables ([[{key}]])")
            return ()
        out = []
        for i, item in enumerate(value):
            built = build(item, f"{path}.{key}[{i}]")
            if built is not None:
                out.append(built)
        return tuple(out)

    def access_key(self, raw: object, path: str) -> AccessKeySpec | None:
        t = self.table(raw, path, {"id": True, "secret": True, "status": False})
        if t is None:
            return None
        status = self.get(t, "status", path, str, "Active")
        if status not in ("Active", "Inactive"):
            self.problems.append(f"{path}.status: must be Active or Inactive, got {status!r}")
        return AccessKeySpec(
            self.get(t, "id", path, str, ""), self.get(t, "secret", path, str, ""), status
        )

    def policy(self, raw: object, path: str) -> PolicySpec | None:
        t = self.table(raw, path, {"name": True, "document": True})
        if t is None:
            return None
        return PolicySpec(
            self.get(t, "name", path, str, ""), self.get(t, "document", path, str, "")
        )

    def group(self, raw: object, path: str) -> GroupSpec | None:
        t = self.table(raw, path, {"name": True, "policies": False})
        if t is None:
            return None
        return GroupSpec(self.get(t, "name", path, str, ""), self.strings(t, "policies", path))

    def user(self, raw: object, path: str) -> UserSpec | None:
        t = self.table(
            raw, path, {"name": True, "groups": False, "policies": False, "access_keys": False}
        )
        if t is None:
            return None
        return UserSpec(
            self.get(t, "name", path, str, ""),
            self.strings(t, "groups", path),
            self.strings(t, "policies", path),
            self.items(t, "access_keys", path, self.access_key),
        )

    def role(self, raw: object, path: str) -> RoleSpec | None:
        t = self.table(
            raw,
            path,
            {"name": True, "trust": True, "policies": False, "max_session_duration": False},
        )
        if t is None:
            return None
        return RoleSpec(
            self.get(t, "name", path, str, ""),
            self.get(t, "trust", path, str, ""),
            self.strings(t, "policies", path),
            self.get(t, "max_session_duration", path, int, 3600),
        )

    def space(self, raw: object, path: str) -> SpaceSpec | None:
        t = self.table(raw, path, {"id": True, "waba_id": False, "isv_customer": False})
        if t is None:
            return None
        waba = self.get(t, "waba_id", path, str, "") or None
        customer = self.get(t, "isv_customer", path, str, "") or None
        return SpaceSpec(self.get(t, "id", path, str, ""), waba, customer)

    def isv_code(self, raw: object, path: str) -> IsvCodeSpec | None:
        t = self.table(raw, path, {"code": True, "user": True, "spaces": False, "expires": False})
        if t is None:
            return None
        expires = t.get("expires")
        if expires is not None:
            if isinstance(expires, datetime):
                expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
            elif isinstance(expires, date):
                expires = datetime(expires.year, expires.month, expires.day, tzinfo=UTC)
            else:
                self.problems.append(
                    f"{path}.expires: expected a TOML date-time such as 2027-01-01T00:00:00Z"
                )
                expires = None
        return IsvCodeSpec(
            self.get(t, "code", path, str, ""),
            self.get(t, "user", path, str, ""),
            self.strings(t, "spaces", path),
            expires,
        )

    def account(self, raw: object, path: str) -> AccountSpec | None:
        allowed = {
            "id": True,
            "name": True,
            "cams": False,
            "access_keys": False,
            "policies": False,
            "groups": False,
            "users": False,
            "roles": False,
            "spaces": False,
            "isv_codes": False,
        }
        t = self.table(raw, path, allowed)
        if t is None:
            return None
        account_id = t.get("id")
        if isinstance(account_id, int) and not isinstance(account_id, bool):
            account_id = str(account_id)  # a bare number is a common slip; an id is an id
            t = {**t, "id": account_id}
        return AccountSpec(
            id=self.get(t, "id", path, str, ""),
            name=self.get(t, "name", path, str, ""),
            cams=self.get(t, "cams", path, bool, True),
            access_keys=self.items(t, "access_keys", path, self.access_key),
            policies=self.items(t, "policies", path, self.policy),
            groups=self.items(t, "groups", path, self.group),
            users=self.items(t, "users", path, self.user),
            roles=self.items(t, "roles", path, self.role),
            spaces=self.items(t, "spaces", path, self.space),
            isv_codes=self.items(t, "isv_codes", path, self.isv_code),
        )


def parse_world(text: str, source: str = "<world>") -> World:
    """Parse and validate world-file text; raise `WorldError` with every problem found."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorldError(source, [f"not valid TOML: {exc}"]) from None
    reader = _Reader()
    top = reader.table(raw, "", {"region": False, "accounts": False})
    if top is None:
        raise WorldError(source, reader.problems)
    region = reader.get(top, "region", "", str, DEFAULT_REGION)
    accounts = reader.items(top, "accounts", "", reader.account)
    problems = [p.lstrip(".") for p in reader.problems]
    if problems:
        raise WorldError(source, problems)
    world = World(region=region, accounts=accounts)
    validate_world(world, source)
    return world


def load_world(path: str | Path) -> World:
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        raise WorldError(str(file), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise WorldError(str(file), ["the file is not UTF-8 text"]) from None
    return parse_world(text, str(file))


def _drop_empty(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v not in (None, [], ())}


def dump_world(world: World) -> str:
    """The world as a TOML world file."""
    accounts = []
    for a in world.accounts:
        accounts.append(
            _drop_empty(
                {
                    "id": a.id,
                    "name": a.name,
                    "cams": a.cams,
                    "access_keys": [
                        {"id": k.id, "secret": k.secret, "status": k.status} for k in a.access_keys
                    ],
                    "policies": [{"name": p.name, "document": p.document} for p in a.policies],
                    "groups": [
                        _drop_empty({"name": g.name, "policies": list(g.policies)})
                        for g in a.groups
                    ],
                    "users": [
                        _drop_empty(
                            {
                                "name": u.name,
                                "groups": list(u.groups),
                                "policies": list(u.policies),
                                "access_keys": [
                                    {"id": k.id, "secret": k.secret, "status": k.status}
                                    for k in u.access_keys
                                ],
                            }
                        )
                        for u in a.users
                    ],
                    "roles": [
                        _drop_empty(
                            {
                                "name": r.name,
                                "trust": r.trust,
                                "policies": list(r.policies),
                                "max_session_duration": r.max_session_duration,
                            }
                        )
                        for r in a.roles
                    ],
                    "spaces": [
                        _drop_empty(
                            {"id": s.id, "waba_id": s.waba_id, "isv_customer": s.isv_customer}
                        )
                        for s in a.spaces
                    ],
                    "isv_codes": [
                        _drop_empty(
                            {
                                "code": c.code,
                                "user": c.user,
                                "spaces": list(c.spaces),
                                "expires": c.expires,
                            }
                        )
                        for c in a.isv_codes
                    ],
                }
            )
        )
    return tomli_w.dumps({"region": world.region, "accounts": accounts}, multiline_strings=False)
