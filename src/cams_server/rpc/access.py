"""The access decision every product makes the same way: RAM on an operation's action.

`authorize` evaluates the caller's identity policies (and a role session's policy) for
the operation's RAM action on the account's resource `acs:<product>:<region>:<account>:*`;
`denial` builds the operation's permission error with its `AccessDeniedDetail`.
"""

from __future__ import annotations

from typing import Any

from cams_server.ram.diagnostics import access_denied_detail
from cams_server.ram.evaluation import PolicyDecision, evaluate
from cams_server.rpc.context import CallContext
from cams_server.wire.errors import ServiceError

__all__ = ["authorize", "denial"]


def denial(
    ctx: CallContext,
    decision: PolicyDecision,
    resource: str,
    hint: str,
    diagnostic: dict[str, Any],
    policy_type: str = "AccountLevelIdentityBasedPolicy",
    action: str | None = None,
    code: str = "Ram.PermissionDeny",
) -> ServiceError:
    """The operation's permission error with its `AccessDeniedDetail`, whose sealed
    diagnostic tells the operator everything the caller is not told."""
    principal = ctx.caller.principal
    action = action or ctx.operation.ram_action
    encoded = ctx.diagnostics.encode(
        {
            "RequestId": ctx.request_id,
            "Principal": {
                "Arn": principal.arn,
                "Type": str(principal.kind),
                "AccountId": principal.account_id,
            },
            "Action": action,
            "Resource": resource,
            "Context": ctx.condition_context(),
            "NoPermissionType": decision.no_permission_type,
            "EvaluatedPolicies": list(decision.evaluated),
            "AllowingPolicies": list(decision.allowing),
            "DenyingPolicies": list(decision.denying),
            **diagnostic,
        }
    )
    detail = access_denied_detail(principal, action, decision, encoded, policy_type)
    return ctx.operation.error(code, hint, access_denied_detail=detail)


def authorize(ctx: CallContext) -> None:
    """The RAM decision for the operation's action on `acs:cams:<region>:<account>:*`."""
    principal = ctx.caller.principal
    if principal.is_root:
        return
    resource = ctx.directory.resource_arn(ctx.operation.product, principal.account_id)
    session = ctx.caller.session_policy
    decision = evaluate(
        ctx.directory.policies_of(principal),
        ctx.operation.ram_action,
        resource,
        ctx.condition_context(),
        session_policies=None if session is None else [session],
    )
    if decision.allowed:
        return
    if decision.explicit_deny:
        hint = (
            f"{principal.arn} is explicitly denied {ctx.operation.ram_action} by a policy "
            "attached to it; the operator can decode EncodedDiagnosticMessage "
            "(cams-server ram decode-diagnostic) to see which."
        )
    else:
        hint = (
            f"{principal.arn} has no policy allowing {ctx.operation.ram_action} on {resource}: "
            "attach one (for example AliyunCAMSFullAccess) to the user, its group or role."
        )
    raise denial(ctx, decision, resource, hint, {})
