"""Role trust policies: who may assume a role.

A trust statement names principals under `Principal.RAM`: `acs:ram::<account>:root`
trusts every principal of that account (each still needs `sts:AssumeRole` in its own
policies), `acs:ram::<account>:user/<name>` one user, `acs:ram::<account>:role/<name>`
the sessions of one role. An explicit Deny that matches wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from cams_server.ram.conditions import RequestContext
from cams_server.ram.policy import Policy, Statement
from cams_server.ram.principals import Principal, PrincipalKind
from cams_server.ram.wildcards import wildcard

__all__ = ["TrustDecision", "evaluate_trust"]

ASSUME_ROLE = "sts:AssumeRole"


@dataclass(frozen=True, slots=True)
class TrustDecision:
    trusted: bool
    explicit_deny: bool


def _names(principal: Principal) -> list[str]:
    """The ARNs a trust policy may use to name this caller."""
    account = principal.account_id
    names = [f"acs:ram::{account}:root"]
    if principal.kind is PrincipalKind.USER:
        names.append(f"acs:ram::{account}:user/{principal.name}")
    elif principal.kind is PrincipalKind.ASSUMED_ROLE:
        names.append(f"acs:ram::{account}:role/{principal.name}")
    return names


def _names_caller(statement: Statement, principal: Principal) -> bool:
    candidates = _names(principal)
    for pattern in statement.principals.get("RAM", ()):
        matcher = wildcard(pattern, True)
        if any(matcher.matches(name) for name in candidates):
            return True
    return False


def evaluate_trust(trust: Policy, principal: Principal, context: RequestContext) -> TrustDecision:
    allowed = False
    for statement in trust.statements:
        if not statement.matches_action(ASSUME_ROLE) or not _names_caller(statement, principal):
            continue
        if not statement.conditions_hold(context):
            continue
        if statement.effect == "Deny":
            return TrustDecision(False, True)
        allowed = True
    return TrustDecision(allowed, False)
