"""STS over HTTPS through the official clients: the STS SDK, the RamRoleArn credentials
provider, and the CAMS SDK running on the temporary credentials."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_cams20200606.client import Client as CamsClient
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_sts20150401.models import AssumeRoleRequest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer

WORLD = Path(__file__).parent.parent / "worlds" / "sts.toml"
ACME = "1000000000000001"
KEYS = {
    "root": ("LTAI5tAcmeRoot000001", "acme-root-secret"),
    "ivan": ("LTAI5tAcmeIvan000001", "ivan-secret"),
    "alice": ("LTAI5tAcmeAlice00001", "alice-secret"),
    "olga": ("LTAI5tAcmeOlga000001", "olga-secret"),
    "gus": ("LTAI5tGlobexGus00001", "gus-secret"),
}


def role_arn(name: str, account: str = ACME) -> str:
    return f"acs:ram::{account}:role/{name}"


def _tls_server() -> Iterator[CamsServer]:
    # The server's clock starts 10 minutes behind real time, so it can be moved past a
    # 15-minute token expiry while the SDKs' real-time timestamps stay within the window.
    clock = ManualClock(time.time() - 600)
    with CamsServer(world=WORLD, clock=clock, tls=True) as running:
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(running.ca_file)
        yield running
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous


@pytest.fixture(scope="module")
def server() -> Iterator[CamsServer]:
    """Shared by the tests that move the clock by seconds only."""
    yield from _tls_server()


@pytest.fixture
def own_server() -> Iterator[CamsServer]:
    """For a test that moves the clock by minutes."""
    yield from _tls_server()


@pytest.fixture(autouse=True)
def fresh_window(server: CamsServer) -> None:
    assert isinstance(server.clock, ManualClock)
    server.clock.advance(1.01)


def sts(server: CamsServer, who: str) -> StsClient:
    key_id, secret = KEYS[who]
    return StsClient(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=server.endpoint,
            protocol="https",
        )
    )


def assume(server: CamsServer, who: str, role: str, **kwargs: Any) -> Any:
    request = AssumeRoleRequest(role_arn=role_arn(role), role_session_name="session-1", **kwargs)
    return sts(server, who).assume_role(request).body


def error_of(
    server: CamsServer, who: str, role: str | None = None, **kwargs: Any
) -> ClientException:
    request = AssumeRoleRequest(
        role_arn=kwargs.pop("arn", role_arn(role or "roi-operator")),
        role_session_name=kwargs.pop("session", "session-1"),
        **kwargs,
    )
    with pytest.raises(ClientException) as info:
        sts(server, who).assume_role(request)
    return info.value


def cams_with(server: CamsServer, creds: Any) -> CamsClient:
    return CamsClient(
        Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
            endpoint=server.endpoint,
            protocol="https",
        )
    )


def test_assume_role_returns_temporary_credentials(server: CamsServer) -> None:
    body = assume(server, "ivan", "roi-operator", duration_seconds=1800)
    creds = body.credentials
    assert creds.access_key_id.startswith("STS.")
    assert creds.access_key_secret and creds.security_token
    expected = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(server.clock.now()) + 1800))
    assert creds.expiration == expected
    assert body.assumed_role_user.arn == f"{role_arn('roi-operator')}/session-1"
    assert body.assumed_role_user.assumed_role_id.endswith(":session-1")


def test_role_session_can_call_cams_with_v3_and_v1(server: CamsServer) -> None:
    creds = assume(server, "ivan", "roi-operator").credentials
    client = cams_with(server, creds)
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
    v1 = CamsClient(
        Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
            endpoint=server.endpoint,
            protocol="https",
            signature_algorithm="v2",
        )
    )
    body = v1.enable_whatsapp_roimetric(
        EnableWhatsappROIMetricRequest(cust_space_id="cams-acme-main")
    )
    assert body.body.code == "OK"
    by = {e["space_id"]: e["enabled_by"] for e in server.enablements()}
    assert by["cams-acme-main"] == f"acs:ram::{ACME}:assumed-role/roi-operator/session-1"


def test_role_without_the_action_is_denied_as_assumed_role_user(server: CamsServer) -> None:
    client = cams_with(server, assume(server, "ivan", "reader").credentials)
    with pytest.raises(ClientException) as info:
        client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "Ram.PermissionDeny"
    detail = info.value.access_denied_detail
    assert detail["AuthPrincipalType"] == "AssumedRoleUser"
    assert detail["AuthPrincipalDisplayName"] == "reader:session-1"
    assert detail["NoPermissionType"] == "ImplicitDeny"


def test_session_policy_narrows_the_role(server: CamsServer) -> None:
    narrow = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:Get*","Resource":"*"}]}'
    client = cams_with(server, assume(server, "ivan", "roi-operator", policy=narrow).credentials)
    with pytest.raises(ClientException) as info:
        client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "Ram.PermissionDeny"


def test_secure_transport_condition_holds_over_tls(server: CamsServer) -> None:
    client = cams_with(server, assume(server, "ivan", "tls-roi").credentials)
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"


def test_ram_role_arn_provider_gets_and_refreshes_credentials(own_server: CamsServer) -> None:
    server = own_server
    key_id, secret = KEYS["ivan"]
    provider = CredentialClient(
        CredentialConfig(
            type="ram_role_arn",
            access_key_id=key_id,
            access_key_secret=secret,
            role_arn=role_arn("roi-operator"),
            role_session_name="provider",
            role_session_expiration=900,
            sts_endpoint=server.endpoint,
        )
    )
    client = CamsClient(Config(credential=provider, endpoint=server.endpoint, protocol="https"))
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
    first = provider.get_credential().access_key_id
    server.clock.advance(901)  # the first token has expired on the server
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
    assert provider.get_credential().access_key_id != first


def test_expired_token_is_refused(own_server: CamsServer) -> None:
    server = own_server
    creds = assume(server, "ivan", "roi-operator", duration_seconds=900).credentials
    server.clock.advance(900)
    with pytest.raises(ClientException) as info:
        cams_with(server, creds).enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "InvalidSecurityToken.Expired"
    assert "AssumeRole again" in info.value.message


def test_tampered_and_mismatched_tokens_are_refused(server: CamsServer) -> None:
    one = assume(server, "ivan", "roi-operator").credentials
    two = assume(server, "ivan", "roi-operator").credentials
    tampered = type(one)(
        access_key_id=one.access_key_id,
        access_key_secret=one.access_key_secret,
        security_token=one.security_token[:-6] + "AAAAAA",
    )
    with pytest.raises(ClientException) as info:
        cams_with(server, tampered).enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "InvalidSecurityToken.Malformed"
    swapped = type(one)(
        access_key_id=one.access_key_id,
        access_key_secret=one.access_key_secret,
        security_token=two.security_token,
    )
    with pytest.raises(ClientException) as info:
        cams_with(server, swapped).enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_sts_key_without_token_is_refused(server: CamsServer) -> None:
    creds = assume(server, "ivan", "roi-operator").credentials
    client = CamsClient(
        Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            endpoint=server.endpoint,
            protocol="https",
        )
    )
    with pytest.raises(ClientException) as info:
        client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "InvalidSecurityToken.Missing"


def test_assume_role_needs_https(server: CamsServer) -> None:
    key_id, secret = KEYS["ivan"]
    client = StsClient(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=server.endpoint,
            protocol="http",
        )
    )
    with pytest.raises(Exception):  # noqa: B017 - plain HTTP to a TLS port fails at the transport
        client.assume_role(
            AssumeRoleRequest(role_arn=role_arn("roi-operator"), role_session_name="x1")
        )


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        ({"arn": "acs:ram::1000000000000001:user/ivan"}, "InvalidParameter.RoleArn", 400),
        ({"arn": "arn:aws:iam::1:role/x"}, "InvalidParameter.RoleArn", 400),
        ({"arn": role_arn("no-such-role")}, "EntityNotExist.Role", 404),
        ({"session": "x"}, "InvalidParameter.RoleSessionName", 400),
        ({"session": "bad name!"}, "InvalidParameter.RoleSessionName", 400),
        ({"duration_seconds": 899}, "InvalidParameter.DurationSeconds", 400),
        ({"duration_seconds": 7201}, "InvalidParameter.DurationSeconds", 400),
        ({"policy": "{not json"}, "InvalidParameter.PolicyGrammar", 400),
        (
            {
                "policy": '{"Version":"1","Statement":'
                '[{"Effect":"Maybe","Action":"*","Resource":"*"}]}'
            },
            "InvalidParameter.PolicyGrammar",
            400,
        ),
        (
            {
                "policy": '{"Version":"1","Statement":['
                + ",".join(['{"Effect":"Allow","Action":"cams:Get*","Resource":"*"}'] * 40)
                + "]}"
            },
            "InvalidParameter.PolicySize",
            400,
        ),
        ({"external_id": "x"}, "InvalidParameter.ExternalId", 400),
    ],
)
def test_assume_role_parameter_errors(
    server: CamsServer, kwargs: dict[str, Any], code: str, status: int
) -> None:
    error = error_of(server, "ivan", **kwargs)
    assert (error.code, error.status_code) == (code, status)


def test_missing_role_arn_is_reported(server: CamsServer) -> None:
    with pytest.raises(ClientException) as info:
        sts(server, "ivan").assume_role(AssumeRoleRequest(role_session_name="x1"))
    assert (info.value.code, info.value.status_code) == ("MissingRoleArn", 400)
    assert "RoleArn is mandatory" in info.value.message


@pytest.mark.parametrize(
    ("who", "role", "kwargs", "reason"),
    [
        ("root", "roi-operator", {}, "account's own AccessKey"),
        ("alice", "roi-operator", {}, "no policy allowing sts:AssumeRole"),
        ("ivan", "alice-only", {}, "trust policy"),
        ("gus", "roi-operator", {}, "trust policy"),
        ("olga", "roi-operator", {}, "no policy allowing sts:AssumeRole"),  # IpAddress condition
        ("ivan", "partner", {}, "trust policy"),  # ExternalId condition unmet
        ("ivan", "partner", {"external_id": "wrong-id"}, "trust policy"),
    ],
)
def test_assume_role_permission_errors(
    server: CamsServer, who: str, role: str, kwargs: dict[str, Any], reason: str
) -> None:
    error = error_of(server, who, role, **kwargs)
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert reason in error.message


def test_external_id_condition_in_trust_policy(server: CamsServer) -> None:
    body = assume(server, "ivan", "partner", external_id="abcd1234")
    assert body.credentials.access_key_id.startswith("STS.")


def test_get_caller_identity(server: CamsServer) -> None:
    ivan = sts(server, "ivan").get_caller_identity().body
    assert (ivan.identity_type, ivan.account_id) == ("RAMUser", ACME)
    assert ivan.arn == f"acs:ram::{ACME}:user/ivan"
    root = sts(server, "root").get_caller_identity().body
    assert (root.identity_type, root.user_id) == ("Account", ACME)
    creds = assume(server, "ivan", "roi-operator").credentials
    session = (
        StsClient(
            Config(
                access_key_id=creds.access_key_id,
                access_key_secret=creds.access_key_secret,
                security_token=creds.security_token,
                endpoint=server.endpoint,
                protocol="https",
            )
        )
        .get_caller_identity()
        .body
    )
    assert session.identity_type == "AssumedRoleUser"
    assert session.arn == f"acs:ram::{ACME}:assumed-role/roi-operator/session-1"
    assert session.principal_id == f"{session.role_id}:session-1"


# -- a token's lifetime is checked against its role, as the world holds it now ---------------


def forged(server: CamsServer, issued_at: float, duration: int, role: str = "roi-operator") -> Any:
    """Credentials sealed with the deployment's own STS key, as whoever stole it would mint
    them: a valid seal, any claims."""
    assert server.state is not None
    return server.state.sts.issue(
        ACME, role, "forged", int(issued_at), duration, None, f"acs:ram::{ACME}:user/ivan"
    )


def refusal(server: CamsServer, creds: Any) -> ClientException:
    with pytest.raises(ClientException) as info:
        cams_with(server, creds).enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    return info.value


def test_token_minted_for_ten_years_is_refused(server: CamsServer) -> None:
    error = refusal(server, forged(server, server.clock.now(), 10 * 365 * 86400))
    assert error.code == "InvalidSecurityToken.Malformed"
    assert "sessions last 1 to 43200 s" in error.message
    assert "AssumeRole" in error.message
    # The same key minting within the role's limit is a session like any other.
    assert (
        cams_with(server, forged(server, server.clock.now(), 3600))
        .enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
        .body.code
        == "OK"
    )


def test_token_issued_in_the_future_is_refused(server: CamsServer) -> None:
    error = refusal(server, forged(server, server.clock.now() + 3600, 900))
    assert error.code == "InvalidSecurityToken.Malformed"
    assert "after the server time" in error.message


def test_session_longer_than_the_role_allows_is_refused(server: CamsServer) -> None:
    """`reader` allows 3600 s (the default); a 7200 s session of it was never issued."""
    error = refusal(server, forged(server, server.clock.now(), 7200, role="reader"))
    assert error.code == "InvalidSecurityToken.Expired"
    assert "longer than the 3600 s role" in error.message


def test_sessions_of_a_deleted_role_end_with_it(own_server: CamsServer) -> None:
    server = own_server
    creds = assume(server, "ivan", "roi-operator").credentials
    client = cams_with(server, creds)
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
    without = re.sub(
        r'  \[\[accounts\.roles\]\]\n  name = "roi-operator"\n.*?(?=  \[\[accounts\.roles\]\])',
        "",
        WORLD.read_text(),
        count=1,
        flags=re.DOTALL,
    )
    assert 'name = "roi-operator"' not in without
    server.apply_world(without)
    server.clock.advance(1.01)
    error = refusal(server, creds)
    assert error.code == "InvalidSecurityToken.Expired"
    assert f"{role_arn('roi-operator')}, which no longer exists" in error.message


def test_lowering_max_session_duration_ends_longer_sessions(own_server: CamsServer) -> None:
    server = own_server
    long = assume(server, "ivan", "roi-operator", duration_seconds=7200).credentials
    short = assume(server, "ivan", "roi-operator", duration_seconds=3600).credentials
    server.apply_world(
        WORLD.read_text().replace("max_session_duration = 7200", "max_session_duration = 3600")
    )
    server.clock.advance(1.01)
    error = refusal(server, long)
    assert error.code == "InvalidSecurityToken.Expired"
    assert "7200 s, longer than the 3600 s role" in error.message
    assert "max_session_duration" in error.message
    client = cams_with(server, short)
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"


def test_role_session_keeps_its_policies_when_the_role_name_changes_case(
    own_server: CamsServer,
) -> None:
    """Role names are one name whatever the case: the session's role is still that role."""
    creds = assume(own_server, "ivan", "roi-operator").credentials
    renamed = WORLD.read_text().replace('name = "roi-operator"', 'name = "ROI-Operator"')
    assert renamed != WORLD.read_text()
    own_server.apply_world(renamed)
    client = cams_with(own_server, creds)
    assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
    again = assume(own_server, "ivan", "Roi-Operator").credentials
    assert (
        cams_with(own_server, again)
        .enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
        .body.code
        == "OK"
    )


# A session policy whose Action is 24 stars then a letter: a backtracking regex would
# try every way of sharing the action's characters among the stars (effectively
# forever, holding the event loop every tenant shares). The server runs as a child
# process so that, if matching ever regresses, the client's read timeout fails the test
# instead of the whole test process hanging behind the GIL.
STARRED = '{"Effect":"Allow","Action":"cams:' + "*" * 24 + 'z","Resource":"*"}'
ROI = '{"Effect":"Allow","Action":"cams:EnableWhatsappROIMetric","Resource":"*"}'


@pytest.fixture(scope="module")
def process_server() -> Iterator[CamsServer]:
    with CamsServer(world=WORLD, mode="process", tls=True) as running:
        previous = os.environ.get("SSL_CERT_FILE")
        assert running.ca_file is not None
        os.environ["SSL_CERT_FILE"] = str(running.ca_file)
        yield running
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous


@pytest.mark.parametrize(
    ("statements", "allowed"), [([STARRED], False), ([STARRED, ROI], True)], ids=["deny", "allow"]
)
def test_starred_session_policy_is_evaluated_promptly(
    process_server: CamsServer, statements: list[str], allowed: bool
) -> None:
    policy = '{"Version":"1","Statement":[' + ",".join(statements) + "]}"
    creds = assume(process_server, "ivan", "roi-operator", policy=policy).credentials
    client = CamsClient(
        Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
            endpoint=process_server.endpoint,
            protocol="https",
            read_timeout=5000,  # ms: a regressed matcher fails the test instead of hanging it
        )
    )
    if allowed:
        assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
        return
    with pytest.raises(ClientException) as info:
        client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "Ram.PermissionDeny"
    assert info.value.access_denied_detail["NoPermissionType"] == "ImplicitDeny"


def test_a_policy_nested_too_deeply_is_a_grammar_error(server: CamsServer) -> None:
    """`[` x 1000 used to raise RecursionError in the JSON parser: a 500 with a traceback."""
    error = error_of(server, "ivan", policy="[" * 1000 + "]" * 1000)
    assert error.code == "InvalidParameter.PolicyGrammar"
    assert error.status_code == 400
    assert "nested too deeply" in error.message
