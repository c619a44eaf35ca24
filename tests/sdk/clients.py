"""The official SDK clients, configured the way a user would: endpoint and protocol only."""

from __future__ import annotations

from typing import Any

from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcams.request.v20200606.EnableWhatsappROIMetricRequest import (
    EnableWhatsappROIMetricRequest as LegacyEnableRequest,
)
from aliyunsdkcore.client import AcsClient

# Keys of tests/worlds/rich.toml, by principal.
KEYS: dict[str, tuple[str, str]] = {
    "acme-root": ("LTAI5tAcmeRoot000001", "acme-root-secret"),
    "acme-root-inactive": ("LTAI5tAcmeRootOff001", "acme-root-off-secret"),
    "alice": ("LTAI5tAcmeAlice00001", "alice-secret"),
    "olga": ("LTAI5tAcmeOlga000001", "olga-secret"),
    "rita": ("LTAI5tAcmeRita000001", "rita-secret"),
    "dave": ("LTAI5tAcmeDave000001", "dave-secret"),
    "nora": ("LTAI5tAcmeNora000001", "nora-secret"),
    "wendy": ("LTAI5tAcmeWendy00001", "wendy-secret"),
    "xavier": ("LTAI5tAcmeXavier0001", "xavier-secret"),
    "ivan": ("LTAI5tAcmeIvan000001", "ivan-secret"),
    "ivan-inactive": ("LTAI5tAcmeIvanOff001", "ivan-off-secret"),
    "globex-root": ("LTAI5tGlobexRoot0001", "globex-root-secret"),
    "gus": ("LTAI5tGlobexGus00001", "gus-secret"),
    "initech-root": ("LTAI5tInitechRoot001", "initech-root-secret"),
    "peter": ("LTAI5tInitechPeter01", "peter-secret"),
}


def v3_client(endpoint: str, who: str, *, secret: str | None = None, v1: bool = False) -> V2Client:
    """Python V2 SDK; signature V3, or V1 with `v1=True` (`signature_algorithm='v2'`)."""
    key_id, key_secret = KEYS[who]
    config = Config(
        access_key_id=key_id,
        access_key_secret=secret or key_secret,
        endpoint=endpoint,
        protocol="http",
        region_id="ap-southeast-1",
    )
    if v1:
        config.signature_algorithm = "v2"
    return V2Client(config)


def enable(
    client: V2Client, space: str | None = None, isv_code: str | None = None
) -> dict[str, object]:
    request = EnableWhatsappROIMetricRequest(cust_space_id=space, isv_code=isv_code)
    body = client.enable_whatsapp_roimetric(request).body
    return body.to_map()  # type: ignore[no-any-return]


def enable_as(
    endpoint: str,
    who: str,
    space: str | None = None,
    isv_code: str | None = None,
    *,
    v1: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """EnableWhatsappROIMetric through the V2 SDK as `who` (V1 signing with `v1`)."""
    request = EnableWhatsappROIMetricRequest(cust_space_id=space, isv_code=isv_code, **extra)
    body = v3_client(endpoint, who, v1=v1).enable_whatsapp_roimetric(request).body
    result: dict[str, Any] = body.to_map()
    return result


def legacy_client(who: str, *, secret: str | None = None) -> AcsClient:
    key_id, key_secret = KEYS[who]
    return AcsClient(key_id, secret or key_secret, "ap-southeast-1", auto_retry=False)


def legacy_request(
    endpoint: str, method: str = "POST", space: str | None = None, isv_code: str | None = None
) -> LegacyEnableRequest:
    request = LegacyEnableRequest()
    request.set_endpoint(endpoint)
    request.set_protocol_type("http")
    request.set_method(method)
    if space is not None:
        request.set_CustSpaceId(space)
    if isv_code is not None:
        request.set_IsvCode(isv_code)
    return request
