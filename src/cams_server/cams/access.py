"""The product-level checks every CAMS operation makes, in the documented order.

Subscription (`Product.Unsubscript`), then RAM (`Ram.PermissionDeny` with the
`AccessDeniedDetail` object), then, for operations on a space, ownership
(`Unknown.ResourceOwnerId`) and ISV codes.
"""

from __future__ import annotations

from typing import Any

from cams_server.cams.context import CallContext
from cams_server.ram.diagnostics import access_denied_detail
from cams_server.ram.directory import SpaceRecord
from cams_server.ram.evaluation import PolicyDecision, evaluate
from cams_server.ram.names import name_key
from cams_server.ram.principals import PrincipalKind

__all__ = ["authorize", "authorize_space", "check_subscription", "denial"]


def check_subscription(ctx: CallContext) -> None:
    account = ctx.directory.account(ctx.caller.principal.account_id)
    if account is None or not account.cams:
        raise ctx.operation.error(
            "Product.Unsubscript",
            f"Account {ctx.caller.principal.account_id} has not opened Chat App Message Service; "
            "open it (cams = true in the world file) and retry.",
        )


def denial(
    ctx: CallContext,
    decision: PolicyDecision,
    resource: str,
    hint: str,
    diagnostic: dict[str, Any],
    policy_type: str = "AccountLevelIdentityBasedPolicy",
    action: str | None = None,
    code: str = "Ram.PermissionDeny",
) -> Exception:
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


def authorize_space(
    ctx: CallContext, space_id: str | None, isv_code: str | None
) -> SpaceRecord | None:
    """Ownership of `CustSpaceId` and the `IsvCode` rules; returns the space, if any."""
    principal = ctx.caller.principal
    space: SpaceRecord | None = None
    if space_id is not None:
        space = ctx.directory.space(space_id)
        if space is None or space.account_id != principal.account_id:
            raise ctx.operation.error(
                "Unknown.ResourceOwnerId",
                f"CustSpaceId {space_id!r} is not a space of account {principal.account_id}.",
            )
    for name in ("OwnerId", "ResourceOwnerId"):
        owner = ctx.params.get(name)
        if owner is not None and str(owner) != principal.account_id:
            raise ctx.operation.error(
                "Unknown.ResourceOwnerId",
                f"{name} {owner} is not the calling account {principal.account_id}.",
            )
    needs_code = space is not None and space.is_isv_customer and not principal.is_root
    if isv_code is None and not needs_code:
        return space
    resource = ctx.directory.resource_arn(
        ctx.operation.product, principal.account_id, f"space/{space_id}" if space_id else "*"
    )
    denied = PolicyDecision(False, False, (), (), ())

    def refuse(hint: str, reason: str) -> Exception:
        return denial(ctx, denied, resource, hint, {"IsvCheck": reason}, "IsvAuthorization")

    if isv_code is None:
        raise refuse(
            f"Space {space_id!r} belongs to ISV customer {space.isv_customer!r}"  # type: ignore[union-attr]
            f": a RAM principal must present an IsvCode issued to it that covers this space.",
            "missing",
        )
    record = ctx.directory.isv_code(isv_code)
    if record is None or record.account_id != principal.account_id:
        raise refuse(
            f"IsvCode {isv_code!r} was not issued by account {principal.account_id}.", "unknown"
        )
    if not record.live_at(ctx.now()):
        raise refuse(
            f"IsvCode {isv_code!r} expired at {record.expires:%Y-%m-%dT%H:%M:%SZ}.", "expired"
        )
    if principal.kind is not PrincipalKind.ACCOUNT and (
        principal.kind is not PrincipalKind.USER
        or name_key(record.user) != name_key(principal.name)
    ):
        raise refuse(
            f"IsvCode {isv_code!r} was issued to RAM user {record.user!r}, not to {principal.arn}.",
            "other-principal",
        )
    if space is not None and space.is_isv_customer and space.id not in record.spaces:
        raise refuse(
            f"IsvCode {isv_code!r} does not cover space {space.id!r}.", "space-not-covered"
        )
    return space
