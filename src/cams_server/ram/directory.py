"""The in-memory RAM and CAMS directory the hot path reads.

Built once from a `World` (and rebuilt when the world changes): AccessKey lookup,
each principal's compiled policies, spaces and ISV codes, all O(1), no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cams_server.model.world import World
from cams_server.ram.names import name_key
from cams_server.ram.policy import Policy, parse_policy
from cams_server.ram.principals import Principal, PrincipalKind
from cams_server.ram.system_policies import system_policies
from cams_server.wire.signing import V3Key, v3_signature

__all__ = [
    "AccountRecord",
    "Directory",
    "IsvCodeRecord",
    "KeyRecord",
    "RoleRecord",
    "SpaceRecord",
    "numeric_id",
    "resource_arn",
    "role_arn",
]


def numeric_id(*parts: str) -> str:
    """A stable 16-digit id (RAM user and role ids are numeric) for a named entity."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return str(10**15 + int.from_bytes(digest[:8], "big") % (9 * 10**15))


def resource_arn(region: str, product: str, account_id: str, relative: str = "*") -> str:
    """What a product's operations are authorized on: CAMS on the whole account (`*`)."""
    return f"acs:{product}:{region}:{account_id}:{relative}"


def role_arn(account_id: str, name: str) -> str:
    """What AssumeRole is authorized on (RAM ARNs carry no region)."""
    return f"acs:ram::{account_id}:role/{name}"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    access_key_id: str
    secret: str = field(repr=False)
    active: bool
    principal: Principal
    session_policy: Policy | None = None  # a role session's `Policy`, which narrows it
    # A key of the directory verifies call after call: its secret is made ready for V3
    # at its first call, and kept (about 800 bytes, so only for keys that call). An STS
    # session's record is built for one call, which signs with it once: `prepare=False`.
    prepare: bool = field(default=True, repr=False, compare=False)
    _v3_key: V3Key | None = field(default=None, init=False, repr=False, compare=False)

    def v3_signature(self, string_to_sign: str) -> str:
        """The V3 signature of `string_to_sign` with this key's secret."""
        key = self._v3_key
        if key is None:
            if not self.prepare:
                return v3_signature(self.secret, string_to_sign)
            key = V3Key(self.secret)
            object.__setattr__(self, "_v3_key", key)  # a cache, not a value: frozen stays true
        return key.sign(string_to_sign)


@dataclass(frozen=True, slots=True)
class RoleRecord:
    account_id: str
    name: str
    role_id: str
    trust: Policy
    max_session_duration: int

    @property
    def arn(self) -> str:
        return role_arn(self.account_id, self.name)


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: str
    name: str
    cams: bool


@dataclass(frozen=True, slots=True)
class SpaceRecord:
    id: str
    account_id: str
    waba_id: str | None
    isv_customer: str | None

    @property
    def is_isv_customer(self) -> bool:
        return self.isv_customer is not None


@dataclass(frozen=True, slots=True)
class IsvCodeRecord:
    code: str
    account_id: str
    user: str
    spaces: frozenset[str]
    expires: datetime | None

    def live_at(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires


def _principal_key(principal: Principal) -> tuple[str, PrincipalKind, str]:
    """Whose identity policies: a role's sessions all share the role's."""
    return (principal.account_id, principal.kind, name_key(principal.name))


class Directory:
    """Every lookup by a RAM name goes through `name_key`: names are case-insensitive."""

    def __init__(self, world: World) -> None:
        self.region = world.region
        self.world = world
        system = {name_key(name): policy for name, policy in system_policies().items()}
        self._keys: dict[str, KeyRecord] = {}
        self._accounts: dict[str, AccountRecord] = {}
        self._policies: dict[tuple[str, PrincipalKind, str], tuple[Policy, ...]] = {}
        self._spaces: dict[str, SpaceRecord] = {}
        self._isv_codes: dict[str, IsvCodeRecord] = {}
        self._roles: dict[tuple[str, str], RoleRecord] = {}
        for account in world.accounts:
            self._accounts[account.id] = AccountRecord(account.id, account.name, account.cams)
            custom = {
                name_key(p.name): parse_policy(p.document, name=p.name, policy_type="Custom")
                for p in account.policies
            }

            def resolve(name: str, _custom: Mapping[str, Policy] = custom) -> Policy:
                key = name_key(name)
                return _custom[key] if key in _custom else system[key]

            root = Principal(account.id, PrincipalKind.ACCOUNT, account.name)
            for key in account.access_keys:
                self._keys[key.id] = KeyRecord(key.id, key.secret, key.active, root)
            groups = {name_key(g.name): g for g in account.groups}
            for user in account.users:
                principal = Principal(account.id, PrincipalKind.USER, user.name)
                names = list(user.policies)
                for group in user.groups:
                    names.extend(groups[name_key(group)].policies)
                unique = dict.fromkeys(name_key(n) for n in names)  # "RoiOnly" once
                self._policies[_principal_key(principal)] = tuple(resolve(n) for n in unique)
                for key in user.access_keys:
                    self._keys[key.id] = KeyRecord(key.id, key.secret, key.active, principal)
            for role in account.roles:
                principal = Principal(account.id, PrincipalKind.ASSUMED_ROLE, role.name)
                self._policies[_principal_key(principal)] = tuple(resolve(n) for n in role.policies)
                self._roles[(account.id, name_key(role.name))] = RoleRecord(
                    account.id,
                    role.name,
                    numeric_id(account.id, "role", role.name),
                    parse_policy(
                        role.trust, name=f"{role.name}:trust", policy_type="Trust", trust=True
                    ),
                    role.max_session_duration,
                )
            for space in account.spaces:
                self._spaces[space.id] = SpaceRecord(
                    space.id, account.id, space.waba_id, space.isv_customer
                )
            for code in account.isv_codes:
                self._isv_codes[code.code] = IsvCodeRecord(
                    code.code, account.id, code.user, frozenset(code.spaces), code.expires
                )

    def key(self, access_key_id: str) -> KeyRecord | None:
        return self._keys.get(access_key_id)

    def account(self, account_id: str) -> AccountRecord | None:
        return self._accounts.get(account_id)

    def policies_of(self, principal: Principal) -> tuple[Policy, ...]:
        """Identity policies: a user's own and its groups'; a role's (by role, any session)."""
        return self._policies.get(_principal_key(principal), ())

    def role(self, account_id: str, name: str) -> RoleRecord | None:
        """Role names are case-insensitive, as in RAM."""
        return self._roles.get((account_id, name_key(name)))

    def spaces_of(self, account_id: str) -> list[SpaceRecord]:
        return [s for s in self._spaces.values() if s.account_id == account_id]

    def space(self, space_id: str) -> SpaceRecord | None:
        return self._spaces.get(space_id)

    def isv_code(self, code: str) -> IsvCodeRecord | None:
        return self._isv_codes.get(code)

    def resource_arn(self, product: str, account_id: str, relative: str = "*") -> str:
        return resource_arn(self.region, product, account_id, relative)
