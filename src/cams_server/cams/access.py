"""The product-level checks of CAMS operations, in the documented order.

Subscription (`Product.Unsubscript`) before RAM (`rpc.access.authorize`), then, for
operations on a space, ownership (`Unknown.ResourceOwnerId`) and ISV codes.
"""

from __future__ import annotations

from cams_server.ram.directory import SpaceRecord
from cams_server.ram.evaluation import PolicyDecision
from cams_server.ram.names import name_key
from cams_server.ram.principals import PrincipalKind
from cams_server.rpc.access import denial
from cams_server.rpc.context import CallContext
from cams_server.wire.errors import ServiceError

__all__ = ["authorize_space", "check_subscription"]


def check_subscription(ctx: CallContext) -> None:
    account = ctx.directory.account(ctx.caller.principal.account_id)
    if account is None or not account.cams:
        raise ctx.operation.error(
            "Product.Unsubscript",
            f"Account {ctx.caller.principal.account_id} has not opened Chat App Message Service; "
            "open it (cams = true in the world file) and retry.",
        )


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

    def refuse(hint: str, reason: str) -> ServiceError:
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
