"""AssumeRole and GetCallerIdentity.

AssumeRole checks, in order: the parameters (the role they name must exist, and bounds
DurationSeconds), that the caller is a RAM user or role (the account's own keys may not
call it, as upstream documents), the caller's policies allow `sts:AssumeRole` on the
role, and the role's trust policy names the caller. The credentials it returns are
verified statelessly (`ram.sts_tokens`).
"""

from __future__ import annotations

import re
from typing import Any

from cams_server.clock import utc_iso
from cams_server.ram.directory import RoleRecord, numeric_id
from cams_server.ram.evaluation import PolicyDecision, evaluate
from cams_server.ram.policy import PolicyError, parse_policy
from cams_server.ram.principals import PrincipalKind
from cams_server.ram.trust import ASSUME_ROLE, evaluate_trust
from cams_server.rpc.access import denial
from cams_server.rpc.context import CallContext

__all__ = ["assume_role", "get_caller_identity"]

_ROLE_ARN = re.compile(
    r"acs:ram::([0-9]{1,32}):role/([A-Za-z0-9][A-Za-z0-9._@-]{0,63})", re.IGNORECASE
)
_SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}\Z")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}\Z", re.ASCII)
_MIN_DURATION = 900
_MAX_POLICY_BYTES = 2048


def _session_name(ctx: CallContext) -> str:
    """RoleSessionName, checked: it becomes part of the session's ARN and id."""
    session_name: str = ctx.params["RoleSessionName"]
    if not _SESSION_NAME.match(session_name):
        raise ctx.operation.error(
            "InvalidParameter.RoleSessionName",
            "It must be 2 to 64 characters of letters, digits and . @ - _.",
        )
    return session_name


def _external_id(ctx: CallContext) -> str | None:
    """ExternalId, checked, if given: trust policies may require it (sts:ExternalId)."""
    external_id: str | None = ctx.params.get("ExternalId")
    if external_id is not None and not _EXTERNAL_ID.match(external_id):
        raise ctx.operation.error(
            "InvalidParameter.ExternalId", r"It must be 2 to 1224 characters of [\w+=,.@:/-]."
        )
    return external_id


def _role(ctx: CallContext, role_arn: str) -> RoleRecord:
    """The role RoleArn names: well formed, and declared in the world."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if not match:
        raise ctx.operation.error(
            "InvalidParameter.RoleArn", "Use acs:ram::<account-id>:role/<role-name>."
        )
    role = ctx.directory.role(match.group(1), match.group(2))
    if role is None:
        raise ctx.operation.error(
            "EntityNotExist.Role",
            f"Account {match.group(1)} has no role named {match.group(2)!r}.",
        )
    return role


def _duration(ctx: CallContext, role: RoleRecord) -> int:
    """DurationSeconds, checked against the role: each role bounds its own sessions."""
    duration: int = ctx.params["DurationSeconds"]  # 3600 unless given (the metadata overlay)
    if not _MIN_DURATION <= duration <= role.max_session_duration:
        raise ctx.operation.error(
            "InvalidParameter.DurationSeconds",
            f"DurationSeconds {duration} is outside {_MIN_DURATION}..{role.max_session_duration}, "
            f"the range role {role.name} allows (its max_session_duration).",
        )
    return duration


def _session_policy(ctx: CallContext) -> str | None:
    """The Policy parameter, checked, if given: it travels in the credentials and narrows
    every call made with them, so one that could not be parsed then is refused now."""
    session_policy: str | None = ctx.params.get("Policy")
    if session_policy is None:
        return None
    if len(session_policy.encode()) >= _MAX_POLICY_BYTES:
        raise ctx.operation.error("InvalidParameter.PolicySize")
    try:
        parse_policy(session_policy, name="SessionPolicy", policy_type="Session")
    except PolicyError as exc:
        raise ctx.operation.error("InvalidParameter.PolicyGrammar", f"{exc}.") from None
    return session_policy


def _deny(ctx: CallContext, hint: str, decision: PolicyDecision, resource: str) -> Exception:
    """STS's NoPermission refusal (upstream's code for AssumeRole, not RAM's), the hint
    also in the sealed diagnostic so the operator reads why."""
    return denial(
        ctx, decision, resource, hint, {"Reason": hint}, action=ASSUME_ROLE, code="NoPermission"
    )


def _refuse_account_keys(ctx: CallContext, role: RoleRecord) -> None:
    """Refuse an account's own AccessKey: upstream documents that AssumeRole is called
    as a RAM user or a role session, never as the account itself."""
    if ctx.caller.principal.kind is PrincipalKind.ACCOUNT:
        raise _deny(
            ctx,
            "AssumeRole cannot be called with an account's own AccessKey: call it as a RAM user "
            "(with AliyunSTSAssumeRoleAccess) or a role session.",
            PolicyDecision(False, False, (), (), ()),
            role.arn,
        )


def _condition_context(ctx: CallContext, external_id: str | None) -> dict[str, str]:
    """The condition keys both the caller's policies and the role's trust policy see: the
    call's global ones, and sts:ExternalId when given."""
    context = {**ctx.condition_context()}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    return context


def _check_permission(ctx: CallContext, role: RoleRecord, context: dict[str, str]) -> None:
    """The caller's own side: its policies (narrowed by its session policy, for a role
    session) must allow sts:AssumeRole on the role."""
    principal = ctx.caller.principal
    session = ctx.caller.session_policy
    decision = evaluate(
        ctx.directory.policies_of(principal),
        ASSUME_ROLE,
        role.arn,
        context,
        session_policies=None if session is None else [session],
    )
    if not decision.allowed:
        raise _deny(
            ctx,
            f"{principal.arn} has no policy allowing sts:AssumeRole on {role.arn}: attach "
            "AliyunSTSAssumeRoleAccess or an equivalent Allow.",
            decision,
            role.arn,
        )


def _check_trust(ctx: CallContext, role: RoleRecord, context: dict[str, str]) -> None:
    """The role's side: its trust policy must name the caller (or the caller's account)."""
    principal = ctx.caller.principal
    trust = evaluate_trust(role.trust, principal, context)
    if not trust.trusted:
        raise _deny(
            ctx,
            f"The trust policy of role {role.name} does not allow {principal.arn} to assume it: "
            f"name acs:ram::{principal.account_id}:root or the caller in its Principal.RAM.",
            PolicyDecision(False, trust.explicit_deny, (), (), (role.trust.name,)),
            role.arn,
        )


def _issue(
    ctx: CallContext,
    role: RoleRecord,
    session_name: str,
    duration: int,
    session_policy: str | None,
) -> dict[str, Any]:
    """Issue the session's credentials from now and answer them as upstream does."""
    issued = ctx.sts.issue(
        role.account_id,
        role.name,
        session_name,
        int(ctx.clock.now()),
        duration,
        session_policy,
        ctx.caller.principal.arn,
    )
    return {
        "Credentials": {
            "AccessKeyId": issued.access_key_id,
            "AccessKeySecret": issued.access_key_secret,
            "SecurityToken": issued.security_token,
            "Expiration": utc_iso(issued.claims.expires_at),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}",
            "Arn": f"{role.arn}/{session_name}",
        },
    }


async def assume_role(ctx: CallContext) -> dict[str, Any]:
    """The checks in upstream's order (the first that fails answers), then the issue."""
    session_name = _session_name(ctx)
    external_id = _external_id(ctx)
    role = _role(ctx, ctx.params["RoleArn"])
    duration = _duration(ctx, role)
    session_policy = _session_policy(ctx)
    _refuse_account_keys(ctx, role)
    context = _condition_context(ctx, external_id)
    _check_permission(ctx, role, context)
    _check_trust(ctx, role, context)
    return _issue(ctx, role, session_name, duration, session_policy)


async def get_caller_identity(ctx: CallContext) -> dict[str, Any]:
    principal = ctx.caller.principal
    account = principal.account_id
    if principal.kind is PrincipalKind.ACCOUNT:
        return {
            "AccountId": account,
            "UserId": account,
            "PrincipalId": account,
            "Arn": principal.arn,
            "IdentityType": "Account",
        }
    if principal.kind is PrincipalKind.USER:
        user_id = numeric_id(account, "user", principal.name)
        return {
            "AccountId": account,
            "UserId": user_id,
            "PrincipalId": user_id,
            "Arn": principal.arn,
            "IdentityType": "RAMUser",
        }
    role_id = numeric_id(account, "role", principal.name)
    role = ctx.directory.role(account, principal.name)
    if role is not None:
        role_id = role.role_id
    return {
        "AccountId": account,
        "RoleId": role_id,
        "PrincipalId": f"{role_id}:{principal.session_name}",
        "Arn": principal.arn,
        "IdentityType": "AssumedRoleUser",
    }
