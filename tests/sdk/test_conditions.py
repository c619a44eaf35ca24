"""RAM policy conditions on cams:EnableWhatsappROIMetric, through the official V2 SDK.

Every global condition key of `reference/wire.md` section 6 is shown both ways: the
call is allowed when the condition holds and refused with `Ram.PermissionDeny` when it
does not. The world is tests/worlds/conditions.toml: one RAM user per condition.

One module-scoped server per server configuration (plain HTTP; HTTP behind a trusted
proxy at 127.0.0.1; HTTPS), each on a manual clock that every test moves 1.01 s so the
flow-control windows (5 calls per account per second) are empty again. No test makes
more than 5 calls per account per clock step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import ExtendsParameters, RuntimeOptions

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer

WORLD = Path(__file__).parent.parent / "worlds" / "conditions.toml"
ACME = "1000000000000001"
CLOCKWORK = "2000000000000002"
ACTION = "cams:EnableWhatsappROIMetric"
# The acs:CurrentTime boundary in conditions.toml, replaced by a real one at start.
PLACEHOLDER = "2000-01-01T00:00:00Z"

KEYS: dict[str, tuple[str, str]] = {
    "acme-root": ("LTAI5tAcmeRoot000001", "acme-root-secret"),
    "sid": ("LTAI5tAcmeSid0000001", "sid-secret"),
    "nina": ("LTAI5tAcmeNina000001", "nina-secret"),
    "ten": ("LTAI5tAcmeTen0000001", "ten-secret"),
    "tess": ("LTAI5tAcmeTess000001", "tess-secret"),
    "uma": ("LTAI5tAcmeUma0000001", "uma-secret"),
    "noah": ("LTAI5tAcmeNoah000001", "noah-secret"),
    "kim": ("LTAI5tAcmeKim0000001", "kim-secret-1"),
    "kim-2": ("LTAI5tAcmeKim0000002", "kim-secret-2"),
    "paul": ("LTAI5tAcmePaul000001", "paul-secret"),
    "pam": ("LTAI5tAcmePam0000001", "pam-secret"),
    "mo": ("LTAI5tAcmeMo00000001", "mo-secret"),
    "mia": ("LTAI5tAcmeMia0000001", "mia-secret"),
    "dan": ("LTAI5tAcmeDan0000001", "dan-secret"),
    "early": ("LTAI5tClockEarly0001", "early-secret"),
    "late": ("LTAI5tClockLate00001", "late-secret"),
}

XFF = {"x-forwarded-for": "10.1.2.3"}

# Every manual clock of this module's servers; each test moves them all.
_CLOCKS: list[ManualClock] = []


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# -- servers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boundary() -> int:
    """The acs:CurrentTime boundary: two minutes after the plain server starts.

    The server clock starts at real time and is moved to the boundary and just past it,
    so it never gets more than a few minutes ahead of the SDK's real-time timestamps
    (the server accepts 15 minutes either way).
    """
    return int(time.time()) + 120


def _start(**kwargs: Any) -> Iterator[CamsServer]:
    clock = ManualClock()
    _CLOCKS.append(clock)
    with CamsServer(clock=clock, **kwargs) as running:
        yield running
    _CLOCKS.remove(clock)


@pytest.fixture(scope="module")
def server(boundary: int) -> Iterator[CamsServer]:
    """Plain HTTP, no trusted proxy: X-Forwarded-* headers are the client's own words."""
    world = WORLD.read_text().replace(PLACEHOLDER, _iso(boundary))
    yield from _start(world=world)


@pytest.fixture(scope="module")
def proxied() -> Iterator[CamsServer]:
    """Plain HTTP behind a trusted proxy at 127.0.0.1 (where the tests connect from)."""
    yield from _start(world=WORLD, trusted_proxies=("127.0.0.1",))


@pytest.fixture(scope="module")
def tls() -> Iterator[CamsServer]:
    """HTTPS with the server's own CA, trusted through SSL_CERT_FILE (as test_sts.py)."""
    for running in _start(world=WORLD, tls=True):
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(running.ca_file)
        try:
            yield running
        finally:
            if previous is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = previous


@pytest.fixture(autouse=True)
def _next_second() -> None:
    """Every test starts with empty flow-control windows on every server."""
    for clock in _CLOCKS:
        clock.advance(1.01)


# -- calls ----------------------------------------------------------------------------


def client(server: CamsServer, who: str) -> V2Client:
    key_id, secret = KEYS[who]
    return V2Client(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=server.endpoint,
            protocol=server.protocol,
            region_id="ap-southeast-1",
        )
    )


def enable_with_headers(
    server: CamsServer, who: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """EnableWhatsappROIMetric as `who`, with extra HTTP headers through RuntimeOptions."""
    runtime = RuntimeOptions(extends_parameters=ExtendsParameters(headers=dict(headers or {})))
    response = client(server, who).enable_whatsapp_roimetric_with_options(
        EnableWhatsappROIMetricRequest(), runtime
    )
    return response.body.to_map()  # type: ignore[no-any-return]


def allowed(server: CamsServer, who: str, headers: dict[str, str] | None = None) -> None:
    body = enable_with_headers(server, who, headers)
    assert body["Code"] == "OK", body
    assert body["AccessDeniedDetail"] == "NONE"


def denied(
    server: CamsServer,
    who: str,
    headers: dict[str, str] | None = None,
    *,
    kind: str = "ImplicitDeny",
    account: str = ACME,
) -> dict[str, Any]:
    """Assert a Ram.PermissionDeny of `kind`; return the decoded diagnostic."""
    with pytest.raises(ClientException) as info:
        enable_with_headers(server, who, headers)
    error = info.value
    assert (error.code, error.status_code) == ("Ram.PermissionDeny", 400), error.data
    detail = error.access_denied_detail
    assert isinstance(detail, dict), error.data
    name = who.split("-")[0]
    assert detail["PolicyType"] == "AccountLevelIdentityBasedPolicy"
    assert detail["AuthPrincipalOwnerId"] == account
    assert detail["AuthPrincipalType"] == "SubUser"
    assert detail["AuthPrincipalDisplayName"] == name
    assert detail["NoPermissionType"] == kind
    assert detail["AuthAction"] == ACTION
    assert server.state is not None
    decoded = server.state.diagnostics.decode(detail["EncodedDiagnosticMessage"])
    assert decoded["Principal"]["Arn"] == f"acs:ram::{account}:user/{name}"
    assert decoded["Action"] == ACTION
    assert decoded["NoPermissionType"] == kind
    return decoded


# -- acs:SourceIp ---------------------------------------------------------------------


def test_ip_address_allows_the_loopback_client(server: CamsServer) -> None:
    allowed(server, "sid")


def test_not_ip_address_denies_the_loopback_client(server: CamsServer) -> None:
    decoded = denied(server, "nina")
    assert decoded["Context"]["acs:SourceIp"] == "127.0.0.1"
    assert decoded["EvaluatedPolicies"] == ["RoiNotFromLoopback"]
    assert decoded["AllowingPolicies"] == [] and decoded["DenyingPolicies"] == []


def test_ip_address_outside_the_range_denies(server: CamsServer) -> None:
    decoded = denied(server, "ten")
    assert decoded["Context"]["acs:SourceIp"] == "127.0.0.1"


def test_trusted_proxy_x_forwarded_for_is_the_source_ip(proxied: CamsServer) -> None:
    allowed(proxied, "ten", XFF)  # 10.0.0.0/8 holds for 10.1.2.3
    decoded = denied(proxied, "sid", XFF)  # 127.0.0.0/8 does not
    assert decoded["Context"]["acs:SourceIp"] == "10.1.2.3"
    allowed(proxied, "nina", XFF)  # NotIpAddress 127.0.0.0/8 holds for 10.1.2.3
    # Without the header the proxy's own address is the source.
    assert denied(proxied, "ten")["Context"]["acs:SourceIp"] == "127.0.0.1"
    allowed(proxied, "sid")


def test_trusted_proxy_chain_takes_the_nearest_untrusted_hop(proxied: CamsServer) -> None:
    decoded = denied(proxied, "sid", {"x-forwarded-for": "192.0.2.7, 10.1.2.3"})
    assert decoded["Context"]["acs:SourceIp"] == "10.1.2.3"
    allowed(proxied, "ten", {"x-forwarded-for": "192.0.2.7, 10.1.2.3"})


def test_untrusted_x_forwarded_for_is_ignored(server: CamsServer) -> None:
    decoded = denied(server, "ten", XFF)
    assert decoded["Context"]["acs:SourceIp"] == "127.0.0.1"
    allowed(server, "sid", XFF)
    assert denied(server, "nina", XFF)["Context"]["acs:SourceIp"] == "127.0.0.1"


# -- acs:SecureTransport --------------------------------------------------------------


def test_secure_transport_denies_plain_http(server: CamsServer) -> None:
    decoded = denied(server, "tess")
    assert decoded["Context"]["acs:SecureTransport"] == "false"


def test_secure_transport_allows_https(tls: CamsServer) -> None:
    assert tls.protocol == "https"
    allowed(tls, "tess")


def test_https_does_not_change_other_conditions(tls: CamsServer) -> None:
    allowed(tls, "sid")
    decoded = denied(tls, "nina")
    assert decoded["Context"]["acs:SecureTransport"] == "true"
    assert decoded["Context"]["acs:SourceIp"] == "127.0.0.1"


def test_trusted_proxy_x_forwarded_proto_https_is_secure(proxied: CamsServer) -> None:
    allowed(proxied, "tess", {"x-forwarded-proto": "https"})
    decoded = denied(proxied, "tess", {"x-forwarded-proto": "http"})
    assert decoded["Context"]["acs:SecureTransport"] == "false"


def test_untrusted_x_forwarded_proto_is_ignored(server: CamsServer) -> None:
    decoded = denied(server, "tess", {"x-forwarded-proto": "https"})
    assert decoded["Context"]["acs:SecureTransport"] == "false"


# -- acs:CurrentTime ------------------------------------------------------------------


def test_current_time_date_less_than_and_greater_than(server: CamsServer, boundary: int) -> None:
    clock = server.clock
    assert isinstance(clock, ManualClock)
    assert clock.now() < boundary - 2, "the clock ran past the boundary before this test"
    # Each step is more than a second after the last: fresh flow-control windows.
    clock.set(boundary - 1.5)
    allowed(server, "early")
    decoded = denied(server, "late", account=CLOCKWORK)
    assert decoded["Context"]["acs:CurrentTime"] == _iso(boundary - 2)
    clock.set(boundary)  # at the boundary neither strict comparison holds
    assert denied(server, "early", account=CLOCKWORK)["Context"]["acs:CurrentTime"] == _iso(
        boundary
    )
    denied(server, "late", account=CLOCKWORK)
    clock.set(boundary + 1.5)
    denied(server, "early", account=CLOCKWORK)
    allowed(server, "late")
    assert abs(clock.now() - time.time()) < 600


# -- acs:UserAgent --------------------------------------------------------------------


def test_user_agent_string_like_allows_the_sdk(server: CamsServer) -> None:
    allowed(server, "uma")
    decoded = denied(server, "uma", {"user-agent": "curl/8.5.0"})
    assert decoded["Context"]["acs:UserAgent"] == "curl/8.5.0"


def test_user_agent_string_not_like_denies_the_sdk(server: CamsServer) -> None:
    decoded = denied(server, "noah")
    assert decoded["Context"]["acs:UserAgent"].startswith("AlibabaCloud (")
    allowed(server, "noah", {"user-agent": "curl/8.5.0"})


# -- acs:AccessId and acs:PrincipalArn ------------------------------------------------


def test_access_id_string_equals_the_key_id(server: CamsServer) -> None:
    allowed(server, "kim")
    decoded = denied(server, "kim-2")
    assert decoded["Context"]["acs:AccessId"] == "LTAI5tAcmeKim0000002"


def test_principal_arn_string_equals_the_user_arn(server: CamsServer) -> None:
    allowed(server, "paul")
    decoded = denied(server, "pam")
    assert decoded["Context"]["acs:PrincipalArn"] == f"acs:ram::{ACME}:user/pam"
    assert decoded["EvaluatedPolicies"] == ["RoiForPaulOnly"]


# -- acs:MFAPresent -------------------------------------------------------------------


def test_mfa_present_false_allows_access_key_calls(server: CamsServer) -> None:
    allowed(server, "mo")


def test_mfa_present_true_denies_access_key_calls(server: CamsServer) -> None:
    decoded = denied(server, "mia")
    assert decoded["Context"]["acs:MFAPresent"] == "false"


# -- Deny beats Allow -----------------------------------------------------------------


def test_conditional_deny_that_holds_beats_an_allow(server: CamsServer) -> None:
    decoded = denied(server, "dan", kind="ExplicitDeny")
    assert decoded["DenyingPolicies"] == ["DenyRoiFromLoopback"]
    assert decoded["AllowingPolicies"] == ["RoiOnly"]
    assert sorted(decoded["EvaluatedPolicies"]) == ["DenyRoiFromLoopback", "RoiOnly"]


def test_conditional_deny_that_does_not_hold_leaves_the_allow(proxied: CamsServer) -> None:
    allowed(proxied, "dan", XFF)
    denied(proxied, "dan", kind="ExplicitDeny")


# -- every condition context value, at once -------------------------------------------


def test_diagnostic_carries_the_whole_condition_context(server: CamsServer) -> None:
    assert isinstance(server.clock, ManualClock)
    decoded = denied(server, "mia", {"user-agent": "probe/1.0"})
    assert decoded["Context"] == {
        "acs:SourceIp": "127.0.0.1",
        "acs:SecureTransport": "false",
        "acs:CurrentTime": _iso(server.clock.now()),
        "acs:MFAPresent": "false",
        "acs:UserAgent": "probe/1.0",
        "acs:AccessId": KEYS["mia"][0],
        "acs:PrincipalArn": f"acs:ram::{ACME}:user/mia",
    }
    assert decoded["Resource"] == f"acs:cams:ap-southeast-1:{ACME}:*"


def test_root_keys_are_not_subject_to_conditions(server: CamsServer) -> None:
    allowed(server, "acme-root", XFF)
