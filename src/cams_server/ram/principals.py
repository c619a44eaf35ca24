"""Who is calling: the account itself, a RAM user, or a role session."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Principal", "PrincipalKind"]


class PrincipalKind(StrEnum):
    """Values are what `AccessDeniedDetail.AuthPrincipalType` says."""

    ACCOUNT = "Account"
    USER = "SubUser"
    ASSUMED_ROLE = "AssumedRoleUser"


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    kind: PrincipalKind
    name: str  # user or role name; the account name for the account itself
    session_name: str | None = None

    @property
    def is_root(self) -> bool:
        return self.kind is PrincipalKind.ACCOUNT

    @property
    def arn(self) -> str:
        if self.kind is PrincipalKind.ACCOUNT:
            return f"acs:ram::{self.account_id}:root"
        if self.kind is PrincipalKind.USER:
            return f"acs:ram::{self.account_id}:user/{self.name}"
        return f"acs:ram::{self.account_id}:assumed-role/{self.name}/{self.session_name}"

    @property
    def display_name(self) -> str:
        if self.kind is PrincipalKind.ASSUMED_ROLE:
            return f"{self.name}:{self.session_name}"
        return self.name
