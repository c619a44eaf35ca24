"""The world's types: accounts and their keys, RAM entities, CAMS spaces and ISV codes.

Plain immutable values shared by the world file, the store and the RAM directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "DEFAULT_REGION",
    "AccessKeySpec",
    "AccountSpec",
    "GroupSpec",
    "IsvCodeSpec",
    "PolicySpec",
    "RoleSpec",
    "SpaceSpec",
    "UserSpec",
    "World",
]

DEFAULT_REGION = "ap-southeast-1"


@dataclass(frozen=True, slots=True)
class AccessKeySpec:
    id: str
    secret: str = field(repr=False)  # never in a repr, a log line or a traceback
    status: str = "Active"  # "Active" or "Inactive"

    @property
    def active(self) -> bool:
        return self.status == "Active"


@dataclass(frozen=True, slots=True)
class PolicySpec:
    name: str
    document: str


@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    policies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserSpec:
    name: str
    groups: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    access_keys: tuple[AccessKeySpec, ...] = ()


@dataclass(frozen=True, slots=True)
class RoleSpec:
    name: str
    trust: str
    policies: tuple[str, ...] = ()
    max_session_duration: int = 3600


@dataclass(frozen=True, slots=True)
class SpaceSpec:
    id: str
    waba_id: str | None = None
    isv_customer: str | None = None


@dataclass(frozen=True, slots=True)
class IsvCodeSpec:
    code: str
    user: str
    spaces: tuple[str, ...] = ()
    expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountSpec:
    id: str
    name: str
    cams: bool = True
    access_keys: tuple[AccessKeySpec, ...] = ()
    policies: tuple[PolicySpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    users: tuple[UserSpec, ...] = ()
    roles: tuple[RoleSpec, ...] = ()
    spaces: tuple[SpaceSpec, ...] = ()
    isv_codes: tuple[IsvCodeSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class World:
    region: str = DEFAULT_REGION
    accounts: tuple[AccountSpec, ...] = field(default_factory=tuple)
