"""CAMS as a product of this server: its API metadata, handlers and checks.

Adding an operation: its entry in `metadata/cams-2020-06-06-metadata.json` (Alibaba's),
a handler module, and its line below (see ARCHITECTURE.md).
"""

from __future__ import annotations

from types import MappingProxyType

from cams_server.cams.access import check_subscription
from cams_server.cams.metric_reads import (
    get_chatapp_phone_number_metric,
    get_chatapp_template_metric,
)
from cams_server.cams.roi import enable_whatsapp_roi_metric
from cams_server.rpc.access import authorize
from cams_server.rpc.operations import Product

__all__ = ["CAMS"]

CAMS = Product(
    package="cams_server.cams",
    metadata="cams-2020-06-06-metadata.json",
    handlers=MappingProxyType(
        {
            "EnableWhatsappROIMetric": enable_whatsapp_roi_metric,
            "GetChatappTemplateMetric": get_chatapp_template_metric,
            "GetChatappPhoneNumberMetric": get_chatapp_phone_number_metric,
        }
    ),
    # Subscription, then RAM on acs:cams:<region>:<account>:*, as the API documents.
    checks=(check_subscription, authorize),
)
