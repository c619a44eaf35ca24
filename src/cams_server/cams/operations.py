"""Which operations this server implements, and the handler of each.

A CAMS handler runs after the gateway (request form, authentication, flow control)
and after `check_subscription` and `authorize`; it returns the response fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cams_server.cams.access import authorize, check_subscription
from cams_server.cams.catalog import Catalog, load_catalog
from cams_server.cams.context import CallContext
from cams_server.cams.metric_reads import (
    get_chatapp_phone_number_metric,
    get_chatapp_template_metric,
)
from cams_server.cams.roi import enable_whatsapp_roi_metric
from cams_server.sts.operations import assume_role, get_caller_identity

__all__ = ["HANDLERS", "Handler", "handler_for", "implemented_catalog", "run_operation"]

Handler = Callable[[CallContext], Awaitable[Mapping[str, Any]]]

# metadata file -> operation -> handler
HANDLERS: Mapping[str, Mapping[str, Handler]] = {
    "cams-2020-06-06-metadata.json": {
        "EnableWhatsappROIMetric": enable_whatsapp_roi_metric,
        "GetChatappTemplateMetric": get_chatapp_template_metric,
        "GetChatappPhoneNumberMetric": get_chatapp_phone_number_metric,
    },
    "sts-2015-04-01-metadata.json": {
        "AssumeRole": assume_role,
        "GetCallerIdentity": get_caller_identity,
    },
}


def implemented_catalog() -> Catalog:
    return load_catalog({file: list(ops) for file, ops in HANDLERS.items()})


def handler_for(name: str) -> Handler:
    for ops in HANDLERS.values():
        if name in ops:
            return ops[name]
    raise KeyError(name)


async def run_operation(ctx: CallContext) -> Mapping[str, Any]:
    """Subscription and RAM for CAMS (contract section 2, steps 4 and 5), then the operation.

    STS operations make their own RAM decisions (AssumeRole is about the role, not
    the caller's account), and STS has no subscription.
    """
    if ctx.operation.product == "cams":
        check_subscription(ctx)
        authorize(ctx)
    return await handler_for(ctx.operation.name)(ctx)
