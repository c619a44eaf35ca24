"""EnableWhatsappROIMetric end to end, through the official SDKs over real HTTP.

One server (thread mode, manual clock) is shared by the module: every test starts
1.01 s after the previous one, so each account's flow-control window is empty again,
and no test makes more than 5 admitted calls per account per clock step. Tests of
the effect (what gets enabled, when) use a server of their own, since enablements
are shared state.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_tea_openapi.exceptions import (
    AlibabaCloudException,
    ClientException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import enable_as, legacy_client, legacy_request, v3_client
from tests.sdk.raw import iso, v1_call, v3_call
from tests.sdk.wire_asserts import assert_ok_body, fails

ACME = "1000000000000001"
GLOBEX = "2000000000000002"
INITECH = "3000000000000003"
ACTION = "cams:EnableWhatsappROIMetric"

# The operation's documented errors (seed), each answered with HTTP 400.
DOCUMENTED = {
    "Product.Unsubscript": "You have not subscribed to the specified product.",
    "Ram.PermissionDeny": "You are not authorized to perform the operation.",
    "System.LimitControl": "The system is under flow control.",
    "Unknown.ResourceOwnerId": "The resource does not belong to the current user.",
}


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=ManualClock()) as running:
        yield running


@pytest.fixture(autouse=True)
def _next_second(server: CamsServer) -> None:
    """Every test starts with empty flow-control windows on the shared server."""
    server.manual_clock.advance(1.01)


@pytest.fixture
def fresh(rich_world: Path) -> Iterator[CamsServer]:
    """A server of its own, with no enablements, whose clock is 2 minutes ahead of ours
    (moved ahead after its start: a call signed before its start would be refused)."""
    clock = ManualClock()
    with CamsServer(world=rich_world, clock=clock) as running:
        clock.advance(120.0)
        yield running


# -- helpers --------------------------------------------------------------------------

# A RAM user of the unsubscribed account initech with no policies, appended to rich.toml.
MALLORY = """
  [[accounts.users]]
  name = "mallory"
    [[accounts.users.access_keys]]
    id = "LTAI5tInitechMallory1"
    secret = "mallory-secret"
"""
MALLORY_KEY = ("LTAI5tInitechMallory1", "mallory-secret")


def key_call(server: CamsServer, key: tuple[str, str], space: str | None = None) -> dict[str, Any]:
    """A V2 SDK (signature V3) call with any key pair."""
    config = Config(
        access_key_id=key[0],
        access_key_secret=key[1],
        endpoint=server.endpoint,
        protocol="http",
        region_id="ap-southeast-1",
    )
    response = V2Client(config).enable_whatsapp_roimetric(
        EnableWhatsappROIMetricRequest(cust_space_id=space)
    )
    return response.body.to_map()  # type: ignore[no-any-return]


def fails_with(
    server: CamsServer,
    who: str,
    code: str,
    space: str | None = None,
    isv_code: str | None = None,
    **extra: Any,
) -> AlibabaCloudException:
    return fails(
        lambda: enable_as(server.endpoint, who, space, isv_code, **extra), code, DOCUMENTED
    )


def readable_forms(encoded: str) -> list[str]:
    """The message as sent, and any base64 reading of it, as text."""
    forms = [encoded]
    for candidate in (encoded, encoded[2:]):
        try:
            raw = base64.urlsafe_b64decode(candidate + "=" * (-len(candidate) % 4))
        except ValueError:
            continue
        forms.append(raw.decode("latin-1"))
    return forms


def assert_denial_detail(
    error: AlibabaCloudException, user: str, kind: str, hidden_policies: tuple[str, ...]
) -> None:
    detail = error.data["AccessDeniedDetail"]
    assert isinstance(detail, dict)
    # The V2 SDK hands the object to the caller as it is.
    assert error.access_denied_detail == detail
    assert detail["PolicyType"] == "AccountLevelIdentityBasedPolicy"
    assert detail["AuthPrincipalOwnerId"] == ACME
    assert detail["AuthPrincipalType"] == "SubUser"
    assert detail["AuthPrincipalDisplayName"] == user
    assert detail["NoPermissionType"] == kind
    assert detail["AuthAction"] == ACTION
    encoded = detail["EncodedDiagnosticMessage"]
    assert isinstance(encoded, str) and encoded.strip()
    for form in readable_forms(encoded):
        for policy in hidden_policies:
            assert policy not in form
        assert user not in form


def parse_utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    return parsed


# -- 1. success through every SDK and signature ----------------------------------------


def test_v2_sdk_v3_signature_succeeds_and_request_id_is_in_header(server: CamsServer) -> None:
    client = v3_client(server.endpoint, "acme-root")
    response = client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert response.status_code == 200
    body = response.body.to_map()
    assert_ok_body(body)
    assert response.headers["x-acs-request-id"] == body["RequestId"]


def test_v2_sdk_v1_signature_succeeds_and_request_id_is_in_header(server: CamsServer) -> None:
    client = v3_client(server.endpoint, "acme-root", v1=True)
    assert client._signature_algorithm == "v2"
    response = client.enable_whatsapp_roimetric(
        EnableWhatsappROIMetricRequest(cust_space_id="cams-acme-main")
    )
    assert response.status_code == 200
    body = response.body.to_map()
    assert_ok_body(body)
    assert response.headers["x-acs-request-id"] == body["RequestId"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_legacy_sdk_succeeds(server: CamsServer, method: str) -> None:
    client = legacy_client("acme-root")
    raw = client.do_action_with_exception(legacy_request(server.endpoint, method, "cams-acme-main"))
    assert_ok_body(json.loads(raw))


def test_request_ids_are_unique(server: CamsServer) -> None:
    ids = {enable_as(server.endpoint, "acme-root")["RequestId"] for _ in range(3)}
    assert len(ids) == 3


# -- 2. the effect ---------------------------------------------------------------------


def test_enabling_a_space_records_who_and_when(fresh: CamsServer) -> None:
    when = fresh.clock.now()
    assert_ok_body(enable_as(fresh.endpoint, "alice", "cams-acme-main"))
    (entry,) = fresh.enablements()
    assert {"account_id", "space_id", "enabled_at", "enabled_by"} <= set(entry)
    assert entry["account_id"] == ACME
    assert entry["space_id"] == "cams-acme-main"
    assert entry["enabled_by"] == f"acs:ram::{ACME}:user/alice"
    # The time is the server's injected clock (2 minutes ahead of real time), to the microsecond.
    assert abs(parse_utc(entry["enabled_at"]).timestamp() - when) < 1e-5


def test_enabling_without_a_space_is_account_wide(fresh: CamsServer) -> None:
    assert_ok_body(enable_as(fresh.endpoint, "acme-root"))
    (entry,) = fresh.enablements()
    assert entry["account_id"] == ACME
    assert entry["space_id"] is None
    assert entry["enabled_by"] == f"acs:ram::{ACME}:root"
    assert abs(parse_utc(entry["enabled_at"]).timestamp() - fresh.clock.now()) < 1e-5


def test_repeat_enable_is_ok_and_keeps_the_first_time(fresh: CamsServer) -> None:
    first_time = fresh.clock.now()
    assert_ok_body(enable_as(fresh.endpoint, "alice", "cams-acme-main"))
    (first,) = fresh.enablements()
    fresh.manual_clock.advance(30)
    assert_ok_body(enable_as(fresh.endpoint, "olga", "cams-acme-main"))
    fresh.manual_clock.advance(30)
    assert_ok_body(enable_as(fresh.endpoint, "acme-root", "cams-acme-main", v1=True))
    assert fresh.enablements() == [first]
    assert abs(parse_utc(first["enabled_at"]).timestamp() - first_time) < 1e-5
    assert first["enabled_by"] == f"acs:ram::{ACME}:user/alice"


def test_enablements_are_per_account_and_space(fresh: CamsServer) -> None:
    assert_ok_body(enable_as(fresh.endpoint, "acme-root", "cams-acme-main"))
    fresh.manual_clock.advance(1)
    assert_ok_body(enable_as(fresh.endpoint, "acme-root"))
    fresh.manual_clock.advance(1)
    assert_ok_body(enable_as(fresh.endpoint, "globex-root", "cams-globex-main"))
    keys = {(e["account_id"], e["space_id"]) for e in fresh.enablements()}
    assert keys == {(ACME, "cams-acme-main"), (ACME, None), (GLOBEX, "cams-globex-main")}


def test_refused_calls_enable_nothing(fresh: CamsServer) -> None:
    fails_with(fresh, "rita", "Ram.PermissionDeny", "cams-acme-main")
    fails_with(fresh, "acme-root", "Unknown.ResourceOwnerId", "cams-globex-main")
    fails_with(fresh, "initech-root", "Product.Unsubscript")
    fails_with(fresh, "alice", "Ram.PermissionDeny", "cams-acme-cust-1")
    assert fresh.enablements() == []


def test_a_write_that_fails_is_never_answered_ok(fresh: CamsServer) -> None:
    """The database refuses the enablement (a trigger here): the SDK sees a retryable
    ServiceUnavailable, nothing is recorded, and once the database accepts writes again
    the same call succeeds."""
    with sqlite3.connect(fresh.home / "cams.db") as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON roi_enablements "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    with pytest.raises(AlibabaCloudException) as info:
        enable_as(fresh.endpoint, "alice", "cams-acme-main")
    assert info.value.status_code == 503, info.value.data
    assert info.value.code == "ServiceUnavailable"
    assert fresh.enablements() == []
    with sqlite3.connect(fresh.home / "cams.db") as db:
        db.execute("DROP TRIGGER refuse")
    fresh.manual_clock.advance(1)
    assert_ok_body(enable_as(fresh.endpoint, "alice", "cams-acme-main"))
    assert [e["space_id"] for e in fresh.enablements()] == ["cams-acme-main"]


# -- 3. the documented errors ----------------------------------------------------------


@pytest.mark.parametrize("who", ["initech-root", "peter"])
def test_unsubscribed_account_gets_product_unsubscript(server: CamsServer, who: str) -> None:
    fails_with(server, who, "Product.Unsubscript")


@pytest.mark.parametrize(
    ("who", "hidden"),
    [
        ("rita", ("AliyunCAMSReadOnlyAccess", "readers")),
        ("nora", ("AllButRoi",)),
        ("xavier", ("OtherAccountResource",)),
    ],
)
def test_implicit_deny_carries_access_denied_detail(
    server: CamsServer, who: str, hidden: tuple[str, ...]
) -> None:
    error = fails_with(server, who, "Ram.PermissionDeny", "cams-acme-main")
    assert_denial_detail(error, who, "ImplicitDeny", hidden)


def test_explicit_deny_wins_over_full_access(server: CamsServer) -> None:
    error = fails_with(server, "dave", "Ram.PermissionDeny")
    assert_denial_detail(error, "dave", "ExplicitDeny", ("DenyRoi", "AliyunCAMSFullAccess"))


def test_denial_through_v1_signature_and_legacy_sdk(server: CamsServer) -> None:
    error = fails(
        lambda: enable_as(server.endpoint, "rita", v1=True), "Ram.PermissionDeny", DOCUMENTED
    )
    assert error.data["AccessDeniedDetail"]["NoPermissionType"] == "ImplicitDeny"
    with pytest.raises(LegacyServerException) as info:
        legacy_client("nora").do_action_with_exception(legacy_request(server.endpoint, "GET"))
    assert info.value.get_error_code() == "Ram.PermissionDeny"
    assert info.value.get_http_status() == 400
    assert info.value.get_error_msg().startswith(DOCUMENTED["Ram.PermissionDeny"])
    assert info.value.get_request_id()


def test_sixth_call_in_a_second_is_throttled(server: CamsServer) -> None:
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "acme-root"))
    error = fails(
        lambda: enable_as(server.endpoint, "acme-root"), "System.LimitControl", DOCUMENTED
    )
    assert isinstance(error, ThrottlingException)
    assert error.retry_after is not None and 0 < error.retry_after <= 1000
    # The clock has not moved since the five calls: the oldest frees up in exactly 1 s.
    assert error.retry_after == 1000
    server.manual_clock.advance(error.retry_after / 1000)
    assert_ok_body(enable_as(server.endpoint, "acme-root"))


def test_retry_after_is_the_time_until_admission(server: CamsServer) -> None:
    assert_ok_body(enable_as(server.endpoint, "acme-root"))
    server.manual_clock.advance(0.4)
    for _ in range(4):
        assert_ok_body(enable_as(server.endpoint, "acme-root"))
    server.manual_clock.advance(0.2)
    error = fails(
        lambda: enable_as(server.endpoint, "acme-root"), "System.LimitControl", DOCUMENTED
    )
    assert isinstance(error, ThrottlingException)
    # The first call (0.6 s ago) leaves the window in 0.4 s.
    assert error.retry_after is not None and 395 <= error.retry_after <= 401
    server.manual_clock.advance(0.41)
    assert_ok_body(enable_as(server.endpoint, "acme-root"))
    # Only one slot came free.
    fails(lambda: enable_as(server.endpoint, "acme-root"), "System.LimitControl", DOCUMENTED)


def test_rejected_calls_do_not_use_up_the_allowance(server: CamsServer) -> None:
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "acme-root"))
    server.manual_clock.advance(0.5)
    for _ in range(3):
        error = fails(
            lambda: enable_as(server.endpoint, "acme-root"), "System.LimitControl", DOCUMENTED
        )
        assert 0 < (error.retry_after or 0) <= 500
    server.manual_clock.advance(0.5)
    # One second after the five admitted calls the window is empty again. Had the three
    # rejected calls (0.5 s ago) been counted, only two of these five would be admitted.
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "acme-root"))
    fails(lambda: enable_as(server.endpoint, "acme-root"), "System.LimitControl", DOCUMENTED)


def test_throttling_is_per_account(server: CamsServer) -> None:
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "acme-root"))
    fails(lambda: enable_as(server.endpoint, "acme-root"), "System.LimitControl", DOCUMENTED)
    assert_ok_body(enable_as(server.endpoint, "globex-root", "cams-globex-main"))
    assert_ok_body(enable_as(server.endpoint, "gus"))


def test_users_of_one_account_share_its_window(server: CamsServer) -> None:
    for who in ("alice", "olga", "acme-root", "wendy", "ivan"):
        assert_ok_body(enable_as(server.endpoint, who))
    for who in ("alice", "olga", "acme-root"):
        fails(lambda who=who: enable_as(server.endpoint, who), "System.LimitControl", DOCUMENTED)  # type: ignore[misc]


def test_legacy_sdk_sees_throttling(server: CamsServer) -> None:
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "olga"))
    with pytest.raises(LegacyServerException) as info:
        legacy_client("olga").do_action_with_exception(legacy_request(server.endpoint, "POST"))
    assert info.value.get_error_code() == "System.LimitControl"
    assert info.value.get_http_status() == 400
    assert info.value.get_error_msg().startswith(DOCUMENTED["System.LimitControl"])


def outcome(server: CamsServer, who: str) -> str:
    try:
        return str(enable_as(server.endpoint, who)["Code"])
    except AlibabaCloudException as error:
        return str(error.code)


def test_a_concurrent_burst_admits_exactly_five(server: CamsServer) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda who: outcome(server, who), ["acme-root", "olga"] * 4))
    assert sorted(outcomes) == ["OK"] * 5 + ["System.LimitControl"] * 3


def test_failed_authentication_does_not_use_up_the_allowance(server: CamsServer) -> None:
    wrong = v3_client(server.endpoint, "acme-root", secret="wrong-secret")
    for _ in range(6):
        with pytest.raises(ClientException) as info:
            wrong.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
        assert info.value.code == "SignatureDoesNotMatch"
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "acme-root"))


def test_throttled_response_headers(server: CamsServer) -> None:
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "ivan"))
    response = v1_call(server.endpoint, "LTAI5tAcmeRita000001", "rita-secret", {})
    assert response.status_code == 400
    body = response.json()
    assert body["Code"] == "System.LimitControl"
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    assert response.headers["x-acs-retry-after"] == "1000"
    legacy = response.headers["x-ratelimit-user-api"]
    match = re.fullmatch(r"Limit:5,Remain:0,TimeLeft:(\d+),Reset:(\d+)", legacy)
    assert match, legacy
    assert match.group(1) == "1000"
    assert abs(int(match.group(2)) - (server.clock.now() + 1)) <= 1


def test_space_of_another_account_is_unknown_resource_owner(server: CamsServer) -> None:
    fails_with(server, "acme-root", "Unknown.ResourceOwnerId", "cams-globex-main")


def test_nonexistent_space_is_the_same_error(server: CamsServer) -> None:
    foreign = fails_with(server, "olga", "Unknown.ResourceOwnerId", "cams-globex-main")
    missing = fails_with(server, "olga", "Unknown.ResourceOwnerId", "cams-does-not-exist")
    assert missing.data["Code"] == foreign.data["Code"]
    assert "AccessDeniedDetail" not in missing.data


@pytest.mark.parametrize("field", ["owner_id", "resource_owner_id"])
def test_owner_parameters_of_another_account_are_refused(server: CamsServer, field: str) -> None:
    fails_with(server, "acme-root", "Unknown.ResourceOwnerId", **{field: int(GLOBEX)})
    fails_with(server, "alice", "Unknown.ResourceOwnerId", "cams-acme-main", **{field: int(GLOBEX)})


@pytest.mark.parametrize("field", ["owner_id", "resource_owner_id"])
def test_owner_parameters_naming_the_caller_are_accepted(server: CamsServer, field: str) -> None:
    assert_ok_body(enable_as(server.endpoint, "acme-root", "cams-acme-main", **{field: int(ACME)}))
    assert_ok_body(enable_as(server.endpoint, "alice", **{field: int(ACME)}))


# -- 4. the order of the checks ----------------------------------------------------------


def test_subscription_is_checked_before_the_space(server: CamsServer) -> None:
    fails_with(server, "initech-root", "Product.Unsubscript", "cams-globex-main")
    fails_with(server, "peter", "Product.Unsubscript", "cams-does-not-exist")


def test_subscription_is_checked_before_ram(fresh: CamsServer, rich_world: Path) -> None:
    # Give the unsubscribed account a RAM user with no policy at all: RAM would refuse him,
    # so Product.Unsubscript proves the subscription is checked first.
    world = rich_world.read_text() + MALLORY
    fresh.apply_world(world)
    error = fails(lambda: key_call(fresh, MALLORY_KEY), "Product.Unsubscript", DOCUMENTED)
    assert "AccessDeniedDetail" not in error.data
    fails(
        lambda: key_call(fresh, MALLORY_KEY, "cams-globex-main"), "Product.Unsubscript", DOCUMENTED
    )
    # Once the account opens CAMS, the same user meets RAM.
    fresh.apply_world(world.replace("cams = false", "cams = true"))
    fails(lambda: key_call(fresh, MALLORY_KEY), "Ram.PermissionDeny", DOCUMENTED)
    fails(
        lambda: key_call(fresh, MALLORY_KEY, "cams-globex-main"), "Ram.PermissionDeny", DOCUMENTED
    )


def test_ram_is_checked_before_the_space(server: CamsServer) -> None:
    fails_with(server, "rita", "Ram.PermissionDeny", "cams-globex-main")
    fails_with(server, "dave", "Ram.PermissionDeny", "cams-does-not-exist")
    fails_with(server, "xavier", "Ram.PermissionDeny", "cams-globex-main")


def test_space_ownership_is_checked_before_the_isv_code(server: CamsServer) -> None:
    fails_with(server, "alice", "Unknown.ResourceOwnerId", "cams-globex-main", "no-such-code")


def test_throttling_beats_subscription(server: CamsServer) -> None:
    for _ in range(5):
        fails_with(server, "initech-root", "Product.Unsubscript", "cams-globex-main")
    fails_with(server, "peter", "System.LimitControl", "cams-globex-main")


def test_throttling_beats_ram_and_space_checks(server: CamsServer) -> None:
    fails_with(server, "rita", "Ram.PermissionDeny")
    fails_with(server, "acme-root", "Unknown.ResourceOwnerId", "cams-globex-main")
    fails_with(server, "alice", "Ram.PermissionDeny", "cams-acme-cust-2", "skdi3kksloslikdkkdk")
    assert_ok_body(enable_as(server.endpoint, "olga"))
    assert_ok_body(enable_as(server.endpoint, "ivan"))
    for who, space in (("rita", None), ("acme-root", "cams-globex-main"), ("olga", None)):
        fails_with(server, who, "System.LimitControl", space)


def test_authentication_is_checked_before_throttling(server: CamsServer) -> None:
    for _ in range(5):
        assert_ok_body(enable_as(server.endpoint, "alice"))
    fails_with(server, "alice", "System.LimitControl")
    with pytest.raises(ClientException) as info:
        v3_client(server.endpoint, "alice", secret="wrong-secret").enable_whatsapp_roimetric(
            EnableWhatsappROIMetricRequest()
        )
    assert info.value.code == "SignatureDoesNotMatch"


# -- 5. RAM: who may call ------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", ["acme-root", "globex-root", "olga", "wendy", "ivan", "alice", "gus"]
)
def test_allowed_principals(server: CamsServer, who: str) -> None:
    assert_ok_body(enable_as(server.endpoint, who))


# -- 6. ISV codes --------------------------------------------------------------------------


def test_isv_user_with_covering_code_succeeds(server: CamsServer) -> None:
    assert_ok_body(enable_as(server.endpoint, "alice", "cams-acme-cust-1", "skdi3kksloslikdkkdk"))


def test_isv_code_without_a_space_by_its_owner_succeeds(server: CamsServer) -> None:
    assert_ok_body(enable_as(server.endpoint, "alice", None, "skdi3kksloslikdkkdk"))


@pytest.mark.parametrize("space", ["cams-acme-cust-1", "cams-acme-cust-2"])
def test_root_needs_no_code_on_an_isv_space(server: CamsServer, space: str) -> None:
    assert_ok_body(enable_as(server.endpoint, "acme-root", space))


def test_isv_code_is_not_needed_on_an_own_space(server: CamsServer) -> None:
    assert_ok_body(enable_as(server.endpoint, "alice", "cams-acme-main"))


@pytest.mark.parametrize(
    ("space", "code"),
    [
        ("cams-acme-cust-1", None),  # an ISV space needs a code
        ("cams-acme-cust-2", "skdi3kksloslikdkkdk"),  # alice's code does not cover it
        ("cams-acme-cust-1", "olga-code-0001"),  # issued to another user
        ("cams-acme-cust-1", "alice-expired-code"),  # expired
        ("cams-acme-cust-1", "no-such-code-0001"),  # unknown
        ("cams-acme-cust-1", "globex-code-0001"),  # issued by another account
        (None, "olga-code-0001"),  # another user's code, even with no space
        (None, "globex-code-0001"),
        ("cams-acme-main", "alice-expired-code"),  # a given code must be live, space or not
    ],
)
def test_isv_code_refusals(server: CamsServer, space: str | None, code: str | None) -> None:
    error = fails_with(server, "alice", "Ram.PermissionDeny", space, code)
    detail = error.data["AccessDeniedDetail"]
    assert isinstance(detail, dict)
    assert detail["AuthPrincipalDisplayName"] == "alice"
    assert detail["AuthAction"] == ACTION
    assert detail["EncodedDiagnosticMessage"]


def test_isv_code_holder_with_full_access_still_needs_a_code(server: CamsServer) -> None:
    fails_with(server, "olga", "Ram.PermissionDeny", "cams-acme-cust-2")
    assert_ok_body(enable_as(server.endpoint, "olga", "cams-acme-cust-2", "olga-code-0001"))


def test_isv_code_expiry_follows_the_server_clock(rich_world: Path) -> None:
    world = rich_world.read_text().replace(
        "expires = 2020-01-01T00:00:00Z", "expires = 2030-01-01T00:00:00Z"
    )
    assert "2030-01-01" in world
    expiry = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    clock = ManualClock(expiry - 60)
    with CamsServer(world=world, clock=clock) as running:
        # Requests are signed with the real time; the server accepts 15 minutes of skew,
        # which a clock set in 2030 exceeds, so use the raw signer with the server's time.
        def attempt() -> dict[str, Any]:
            response = v1_call(
                running.endpoint,
                "LTAI5tAcmeAlice00001",
                "alice-secret",
                {"CustSpaceId": "cams-acme-cust-1", "IsvCode": "alice-expired-code"},
                timestamp=iso(clock.now()),
            )
            assert response.headers["x-acs-request-id"] == response.json()["RequestId"]
            return response.json()  # type: ignore[no-any-return]

        assert attempt()["Code"] == "OK"
        clock.advance(60)
        assert attempt()["Code"] == "Ram.PermissionDeny"


# -- 7. the legacy SDK's error surface --------------------------------------------------------


def test_legacy_sdk_reports_a_wrong_secret(server: CamsServer) -> None:
    client = legacy_client("alice", secret="not-alice-secret")
    with pytest.raises(LegacyServerException) as info:
        client.do_action_with_exception(legacy_request(server.endpoint, "POST", "cams-acme-main"))
    error = info.value
    assert error.get_error_code() == "InvalidAccessKeySecret"
    assert error.get_http_status() == 400
    assert error.get_request_id()


def test_legacy_sdk_server_exception_carries_the_request_id(server: CamsServer) -> None:
    client = legacy_client("acme-root")
    with pytest.raises(LegacyServerException) as info:
        client.do_action_with_exception(legacy_request(server.endpoint, "GET", "cams-globex-main"))
    error = info.value
    assert error.get_error_code() == "Unknown.ResourceOwnerId"
    assert error.get_http_status() == 400
    assert error.get_error_msg().startswith(DOCUMENTED["Unknown.ResourceOwnerId"])
    request_id = error.get_request_id()
    assert request_id and len(request_id) >= 16


def test_v2_sdk_reports_a_wrong_secret(server: CamsServer) -> None:
    for v1 in (False, True):
        client = v3_client(server.endpoint, "alice", secret="not-alice-secret", v1=v1)
        with pytest.raises(ClientException) as info:
            client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
        assert info.value.code == "SignatureDoesNotMatch"
        assert info.value.status_code == 400
        assert info.value.request_id


def test_error_responses_carry_the_request_id_header(server: CamsServer) -> None:
    response = v1_call(server.endpoint, "LTAI5tAcmeRita000001", "rita-secret", {})
    assert response.status_code == 400
    body = response.json()
    assert body["Code"] == "Ram.PermissionDeny"
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    assert body["HostId"] == server.endpoint
    assert body["Recommend"].startswith(
        f"http://{server.endpoint}/docs/errors?Code=Ram.PermissionDeny&RequestId="
    )
    page = httpx.get(body["Recommend"], timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Your error: <code>Ram.PermissionDeny</code>" in page.text
    assert body["RequestId"] in page.text
    assert "Attach a policy that allows the action" in page.text


def test_the_documented_sample_is_what_the_server_answers(fresh: CamsServer) -> None:
    from cams_server.server import implemented_catalog

    sample = json.loads(implemented_catalog().get(ACTION.split(":")[1]).text("en").sample or "")
    key_id, secret = "LTAI5tAcmeRoot000001", "acme-root-secret"
    answer = v3_call(fresh.endpoint, key_id, secret, {"CustSpaceId": "cams-acme-main"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert list(body) == list(sample)
    assert {k: v for k, v in body.items() if k != "RequestId"} == {
        k: v for k, v in sample.items() if k != "RequestId"
    }
