"""The official Node SDK (@alicloud/cams20200606 1.4.2, openapi-client 0.4.15) against
cams-server: signature V3 as Node computes it, and errors as the SDK surfaces them.

Each `node call.js` run is one SDK client making its calls in order (see call.js for
the JSON in and out). Node start-up costs ~0.3 s, so a test makes one run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import KEYS
from tests.sdk.wire_asserts import OK_ANSWER

pytestmark = pytest.mark.node

NODE_DIR = Path(__file__).parent / "node"
SDK_PACKAGE = NODE_DIR / "node_modules" / "@alicloud" / "cams20200606"

ACME = "1000000000000001"
ROOT_ARN = f"acs:ram::{ACME}:root"
OLGA_ARN = f"acs:ram::{ACME}:user/olga"


def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not SDK_PACKAGE.is_dir():
        return f"{SDK_PACKAGE} is missing: run `make node-deps`"
    return None


@pytest.fixture(scope="module")
def node() -> str:
    reason = _node_missing()
    if reason is not None:
        if "CI" in os.environ:
            pytest.fail(f"the Node SDK tests cannot run in CI: {reason}")
        pytest.skip(reason)
    path = shutil.which("node")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(node: str, rich_world: Path, clock: ManualClock) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=clock) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_flow_window(clock: ManualClock) -> None:
    """Every test starts in a new one-second flow-control window."""
    clock.advance(1.01)


def run_node(
    node: str,
    server: CamsServer,
    calls: list[dict[str, str]],
    who: str | None = None,
    *,
    key_id: str | None = None,
    secret: str | None = None,
) -> list[dict[str, Any]]:
    """One SDK client for `who` (or an explicit key) making `calls`; one result each."""
    default_id, default_secret = KEYS[who] if who else ("", "")
    payload = {
        "endpoint": server.endpoint,
        "accessKeyId": key_id or default_id,
        "accessKeySecret": secret or default_secret,
        "calls": calls,
    }
    done = subprocess.run(
        [node, "call.js"],
        cwd=NODE_DIR,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(results) == len(calls), done.stdout + done.stderr
    return results


def assert_ok(result: dict[str, Any]) -> None:
    assert result["ok"] is True, result
    assert result["statusCode"] == 200
    body = result["body"]
    assert {k: body[k] for k in OK_ANSWER} == OK_ANSWER
    assert body["RequestId"]
    assert result["requestIdHeader"] == body["RequestId"]


def assert_error(result: dict[str, Any], code: str, status: int = 400) -> dict[str, Any]:
    """The SDK's ResponseError: code, statusCode, and `data` the parsed error body."""
    assert result["ok"] is False, result
    assert result["code"] == code
    assert result["statusCode"] == status
    data: dict[str, Any] = result["data"]
    assert data["Code"] == code
    assert data["statusCode"] == status
    request_id = data["RequestId"]
    assert request_id
    # openapi-client's message: "<code>: code: <status>, <Message> request id: <RequestId>"
    assert result["message"] == (
        f"{code}: code: {status}, {data['Message']} request id: {request_id}"
    )
    return data


def enablement(server: CamsServer, space: str | None) -> list[dict[str, Any]]:
    return [e for e in server.enablements() if e["account_id"] == ACME and e["space_id"] == space]


# -- success ---------------------------------------------------------------------------


def test_root_key_enables_a_space(node: str, server: CamsServer) -> None:
    first, again = run_node(
        node,
        server,
        [{"custSpaceId": "cams-acme-main"}, {"custSpaceId": "cams-acme-main"}],
        "acme-root",
    )
    assert_ok(first)
    assert_ok(again)
    assert first["body"]["RequestId"] != again["body"]["RequestId"]
    [recorded] = enablement(server, "cams-acme-main")
    assert recorded["enabled_by"] == ROOT_ARN


def test_ram_user_enables_an_isv_customer_space(node: str, server: CamsServer) -> None:
    [result] = run_node(
        node, server, [{"custSpaceId": "cams-acme-cust-2", "isvCode": "olga-code-0001"}], "olga"
    )
    assert_ok(result)
    [recorded] = enablement(server, "cams-acme-cust-2")
    assert recorded["enabled_by"] == OLGA_ARN


# -- errors ----------------------------------------------------------------------------


def test_user_without_permission_gets_access_denied_detail(node: str, server: CamsServer) -> None:
    [result] = run_node(node, server, [{}], "rita")
    data = assert_error(result, "Ram.PermissionDeny")
    detail = result["accessDeniedDetail"]
    # The SDK lifts AccessDeniedDetail onto the error, as an object (not a string).
    assert detail == data["AccessDeniedDetail"]
    assert detail["AuthPrincipalType"] == "SubUser"
    assert detail["NoPermissionType"] == "ImplicitDeny"
    assert detail["AuthPrincipalOwnerId"] == ACME
    assert detail["AuthPrincipalDisplayName"] == "rita"
    assert detail["AuthAction"] == "cams:EnableWhatsappROIMetric"
    assert detail["PolicyType"] == "AccountLevelIdentityBasedPolicy"
    assert server.state is not None
    diagnostic = server.state.diagnostics.decode(detail["EncodedDiagnosticMessage"])
    assert diagnostic["RequestId"] == data["RequestId"]
    assert diagnostic["Principal"]["Arn"] == f"acs:ram::{ACME}:user/rita"
    assert enablement(server, None) == []


def test_space_of_another_account(node: str, server: CamsServer) -> None:
    # The second id needs percent-encoding, and Node's querystring leaves *'()! bare in
    # the URL while the signature encodes them: the call still authenticates.
    odd = "a b*c'(!)~+/\u00e9%20&=?#"
    globex, unknown = run_node(
        node, server, [{"custSpaceId": "cams-globex-main"}, {"custSpaceId": odd}], "acme-root"
    )
    for result in (globex, unknown):
        data = assert_error(result, "Unknown.ResourceOwnerId")
        assert data["Message"].startswith("The resource does not belong to the current user.")
        assert result["accessDeniedDetail"] is None
    assert odd in unknown["data"]["Message"]
    assert not [e for e in server.enablements() if e["space_id"] in ("cams-globex-main", odd)]


def test_unsubscribed_account(node: str, server: CamsServer) -> None:
    [result] = run_node(node, server, [{}], "initech-root")
    data = assert_error(result, "Product.Unsubscript")
    assert data["Message"].startswith("You have not subscribed to the specified product.")
    assert not [e for e in server.enablements() if e["account_id"] == "3000000000000003"]


def test_unknown_access_key(node: str, server: CamsServer) -> None:
    [result] = run_node(node, server, [{}], key_id="LTAI5tNoSuchKey00001", secret="no-such-secret")
    data = assert_error(result, "InvalidAccessKeyId.NotFound", 404)
    assert data["Message"].startswith("Specified access key is not found.")


def test_wrong_secret(node: str, server: CamsServer) -> None:
    [result] = run_node(node, server, [{}], "acme-root", secret="not-the-secret")
    data = assert_error(result, "SignatureDoesNotMatch")
    assert data["Message"].startswith(
        "Specified signature is not matched with our calculation. server string to sign is:"
        "ACS3-HMAC-SHA256\n"
    )


def test_sixth_call_in_one_second_is_throttled(node: str, server: CamsServer) -> None:
    # The server's clock does not move, so all six calls fall in one window.
    results = run_node(node, server, [{"custSpaceId": "cams-acme-main"}] * 6, "acme-root")
    for result in results[:5]:
        assert_ok(result)
    data = assert_error(results[5], "System.LimitControl")
    assert data["Message"].startswith("The system is under flow control.")
    # openapi-client 0.4.x builds errors from the body alone: the x-acs-retry-after
    # header never reaches the caller (no retryAfter, no headers on the error), and
    # with default RuntimeOptions the SDK does not retry (exactly six results).
    assert results[5]["retryAfter"] is None
    assert "x-acs-retry-after" not in data
