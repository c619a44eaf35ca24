"""Policy evaluation: an explicit Deny wins, else an Allow grants, else implicit deny.

With session policies (a role session's `Policy`), a call must be allowed by both
the identity policies and the session policy: the session only narrows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cams_server.ram.conditions import RequestContext
from cams_server.ram.policy import Policy

__all__ = ["PolicyDecision", "evaluate"]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    allowed: bool
    explicit_deny: bool
    allowing: tuple[str, ...]  # names of policies with a matching Allow
    denying: tuple[str, ...]  # names of policies with a matching Deny
    evaluated: tuple[str, ...]  # names of every policy looked at

    @property
    def no_permission_type(self) -> str | None:
        if self.allowed:
            return None
        return "ExplicitDeny" if self.explicit_deny else "ImplicitDeny"


def _scan(
    policies: Sequence[Policy], action: str, resource: str, context: RequestContext
) -> tuple[list[str], list[str]]:
    allowing: list[str] = []
    denying: list[str] = []
    for policy in policies:
        for statement in policy.statements:
            if statement.applies(action, resource, context):
                (denying if statement.effect == "Deny" else allowing).append(policy.name)
    return allowing, denying


def evaluate(
    policies: Sequence[Policy],
    action: str,
    resource: str,
    context: RequestContext,
    session_policies: Sequence[Policy] | None = None,
) -> PolicyDecision:
    allowing, denying = _scan(policies, action, resource, context)
    evaluated = [p.name for p in policies]
    allowed = bool(allowing) and not denying
    if session_policies is not None:
        s_allow, s_deny = _scan(session_policies, action, resource, context)
        evaluated += [p.name for p in session_policies]
        denying += s_deny
        allowed = allowed and bool(s_allow) and not s_deny
        allowing = allowing + s_allow if allowed else allowing
    return PolicyDecision(
        allowed=allowed,
        explicit_deny=bool(denying),
        allowing=tuple(dict.fromkeys(allowing)),
        denying=tuple(dict.fromkeys(denying)),
        evaluated=tuple(dict.fromkeys(evaluated)),
    )
