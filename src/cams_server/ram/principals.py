"""Who is calling: the account itself, a RAM user, or a role session."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # Derived once: every call logs its caller's ARN and asks whether it is the account.
    arn: str = field(init=False, compare=False, repr=False)
    is_root: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind is PrincipalKind.ACCOUNT:
            arn = f"acs:ram::{self.account_id}:root"
        elif self.kind is PrincipalKind.USER:
            arn = f"acs:ram::{self.account_id}:user/{self.name}"
        else:
            arn = f"acs:ram::{self.account_id}:assumed-role/{self.name}/{self.session_name}"
        object.__setattr__(self, "arn", arn)
        object.__setattr__(self, "is_root", self.kind is PrincipalKind.ACCOUNT)

    @property
    def display_name(self) -> str:
        if self.kind is PrincipalKind.ASSUMED_ROLE:
            return f"{self.name}:{self.session_name}"
        return self.name
