"""Which operations this server implements, and the handler of each.

A CAMS handler runs after the gateway (request form, authentication, flow control)
and after `check_subscription` and `authorize`; it returns the response fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cams_server.cams.access import authorize, check_subscription
from cams_server.cams.catalog import Catalog, load_catalog
from cams_server.cams.context import CallContext
from cams_server.cams.roi import enable_whatsapp_roi_metric

__all__ = ["HANDLERS", "Handler", "handler_for", "implemented_catalog", "run_operation"]

Handler = Callable[[CallContext], dict[str, Any]]

# metadata file -> operation -> handler
HANDLERS: Mapping[str, Mapping[str, Handler]] = {
    "cams-2020-06-06-metadata.json": {
        "EnableWhatsappROIMetric": enable_whatsapp_roi_metric,
    },
}


def implemented_catalog() -> Catalog:
    return load_catalog({file: list(ops) for file, ops in HANDLERS.items()})


def handler_for(name: str) -> Handler:
    for ops in HANDLERS.values():
        if name in ops:
            return ops[name]
    raise KeyError(name)


def run_operation(ctx: CallContext) -> dict[str, Any]:
    """Subscription, RAM, then the operation itself (contract section 2, steps 4 to 7)."""
    check_subscription(ctx)
    authorize(ctx)
    return handler_for(ctx.operation.name)(ctx)
