"""EnableWhatsappROIMetric: turn on ROI statistics for a space, or the account's own spaces.

Durable before `OK`, idempotent (the first enablement time is kept) and, as
upstream, irreversible through the API.
"""

from __future__ import annotations

from cams_server.cams.access import authorize_space
from cams_server.rpc.context import CallContext
from cams_server.store.enablements import EnablementRequest
from cams_server.wire.encoding import OK, Ok

__all__ = ["enable_whatsapp_roi_metric"]


async def enable_whatsapp_roi_metric(ctx: CallContext) -> Ok:
    space_id = ctx.params.get("CustSpaceId")
    isv_code = ctx.params.get("IsvCode")
    space = authorize_space(ctx, space_id, isv_code)
    account_id = ctx.caller.principal.account_id
    if not ctx.enablements.known(account_id, space_id):
        upstream: list[tuple[str, str]] = []
        if ctx.upstream_configured:
            targets = (
                [space]
                if space is not None
                else [s for s in ctx.directory.spaces_of(account_id) if not s.is_isv_customer]
            )
            upstream = [(s.id, s.waba_id) for s in targets if s.waba_id]
        await ctx.enablement_writer.enable(
            EnablementRequest(
                account_id,
                space_id,
                int(ctx.clock.now() * 1_000_000),
                ctx.caller.principal.arn,
                tuple(upstream),
            )
        )
        # The directory's own strings (the space record's id, the principal's account):
        # the cache then holds references, not copies of what the call sent.
        ctx.enablements.remember(account_id, space_id if space is None else space.id)
    return OK
