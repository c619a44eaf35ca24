"""The admin API (`/_cams/`) over real HTTP, and `cams-server ram decode-diagnostic`.

The diagnostic decoded here is a real one: the EncodedDiagnosticMessage of a
Ram.PermissionDeny that the official V2 SDK got for RAM user rita (read-only) of
tests/worlds/rich.toml.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config

from cams_server.testing import CamsServer
from tests.cli_runner import run_cli

ACME = "1000000000000001"
RITA = ("LTAI5tAcmeRita000001", "rita-secret")
RITA_ARN = f"acs:ram::{ACME}:user/rita"
ACTION = "cams:EnableWhatsappROIMetric"
RESOURCE = f"acs:cams:ap-southeast-1:{ACME}:*"
TOKEN = "admin-token-for-tests"
DECODE = "/_cams/ram/decode-diagnostic"
RITA_UA = "admin-test/1.0"


@pytest.fixture(scope="module")
def server(rich_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CamsServer]:
    home = tmp_path_factory.mktemp("admin-home")
    with CamsServer(world=rich_world, home=home, admin_token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def tokenless(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world) as running:
        yield running


@pytest.fixture(scope="module")
def denial(server: CamsServer) -> dict[str, Any]:
    """rita's AccessDeniedDetail for EnableWhatsappROIMetric, as the V2 SDK hands it over."""
    client = V2Client(
        Config(
            access_key_id=RITA[0],
            access_key_secret=RITA[1],
            endpoint=server.endpoint,
            protocol="http",
            region_id="ap-southeast-1",
            user_agent=RITA_UA,
        )
    )
    with pytest.raises(ClientException) as info:
        client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    assert info.value.code == "Ram.PermissionDeny"
    detail = info.value.access_denied_detail
    assert isinstance(detail, dict)
    return {"detail": detail, "request_id": info.value.request_id}


@pytest.fixture(scope="module")
def message(denial: dict[str, Any]) -> str:
    encoded = denial["detail"]["EncodedDiagnosticMessage"]
    assert isinstance(encoded, str) and encoded
    return encoded


def post(
    server: CamsServer,
    *,
    token: str | None = TOKEN,
    json_body: object = None,
    **kwargs: Any,
) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(
        f"{server.url}{DECODE}", headers=headers, json=json_body, timeout=10, **kwargs
    )


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["Code"] == code, body
    assert body["RequestId"] and response.headers["x-acs-request-id"] == body["RequestId"]
    assert body["Message"]
    return body


# -- health ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["server", "tokenless"])
def test_health_needs_no_token(which: str, request: pytest.FixtureRequest) -> None:
    running: CamsServer = request.getfixturevalue(which)
    response = httpx.get(f"{running.url}/_cams/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["Status"] == "ok"
    assert body["RequestId"] and response.headers["x-acs-request-id"] == body["RequestId"]


def test_unknown_admin_path_is_not_found(server: CamsServer) -> None:
    response = httpx.post(
        f"{server.url}/_cams/no-such-thing",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert_error(response, 404, "InvalidAction.NotFound")


# -- decode-diagnostic ----------------------------------------------------------------


def test_decode_diagnostic_of_a_real_denial(
    server: CamsServer, denial: dict[str, Any], message: str
) -> None:
    detail = denial["detail"]
    assert detail["AuthPrincipalDisplayName"] == "rita"
    assert detail["NoPermissionType"] == "ImplicitDeny"
    response = post(server, json_body={"EncodedDiagnosticMessage": message})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["RequestId"] and response.headers["x-acs-request-id"] == body["RequestId"]
    decoded = body["DecodedDiagnosticMessage"]
    assert decoded["RequestId"] == denial["request_id"]
    assert decoded["Principal"] == {"Arn": RITA_ARN, "Type": "SubUser", "AccountId": ACME}
    assert decoded["Action"] == ACTION
    assert decoded["Resource"] == RESOURCE
    assert decoded["NoPermissionType"] == "ImplicitDeny"
    assert decoded["EvaluatedPolicies"] == ["AliyunCAMSReadOnlyAccess"]
    assert decoded["AllowingPolicies"] == [] and decoded["DenyingPolicies"] == []
    context = decoded["Context"]
    assert context["acs:SourceIp"] == "127.0.0.1"
    assert context["acs:SecureTransport"] == "false"
    assert context["acs:MFAPresent"] == "false"
    assert context["acs:AccessId"] == RITA[0]
    assert context["acs:PrincipalArn"] == RITA_ARN
    assert context["acs:UserAgent"].startswith("AlibabaCloud (")
    assert context["acs:UserAgent"].endswith(RITA_UA)
    assert len(context["acs:CurrentTime"]) == 20 and context["acs:CurrentTime"].endswith("Z")


def test_decode_diagnostic_accepts_form_and_query(server: CamsServer, message: str) -> None:
    expected = post(server, json_body={"EncodedDiagnosticMessage": message}).json()
    form = post(server, data={"EncodedDiagnosticMessage": message})
    query = post(server, params={"EncodedDiagnosticMessage": message})
    for response in (form, query):
        assert response.status_code == 200, response.text
        got = response.json()["DecodedDiagnosticMessage"]
        assert got == expected["DecodedDiagnosticMessage"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {},
    ],
    ids=["wrong", "other-scheme", "longer", "missing"],
)
def test_wrong_or_missing_token_is_401(
    server: CamsServer, message: str, headers: dict[str, str]
) -> None:
    response = post(
        server, token=None, headers=headers, json_body={"EncodedDiagnosticMessage": message}
    )
    body = assert_error(response, 401, "Admin.InvalidToken")
    assert "DecodedDiagnosticMessage" not in body
    assert "Authorization: Bearer" in body["Message"]


def test_bearer_scheme_is_case_insensitive(server: CamsServer, message: str) -> None:
    response = post(
        server,
        token=None,
        headers={"Authorization": f"bearer {TOKEN}"},
        json_body={"EncodedDiagnosticMessage": message},
    )
    assert response.status_code == 200, response.text


def test_no_token_configured_is_403(tokenless: CamsServer, message: str) -> None:
    response = post(tokenless, json_body={"EncodedDiagnosticMessage": message})
    body = assert_error(response, 403, "Admin.Disabled")
    assert "CAMS_ADMIN_TOKEN" in body["Message"]
    assert_error(post(tokenless, token=None, json_body={}), 403, "Admin.Disabled")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"json_body": {}},
        {"json_body": {"EncodedDiagnosticMessage": ""}},
        {"json_body": ["EncodedDiagnosticMessage"]},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ],
    ids=["no-body", "empty-object", "empty-string", "array", "broken-json"],
)
def test_missing_message_is_400(server: CamsServer, kwargs: dict[str, Any]) -> None:
    body = assert_error(post(server, **kwargs), 400, "MissingEncodedDiagnosticMessage")
    assert "EncodedDiagnosticMessage" in body["Message"]


def _tampered(message: str) -> str:
    middle = len(message) // 2
    flipped = "B" if message[middle] != "B" else "C"
    return message[:middle] + flipped + message[middle + 1 :]


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "AQ",
        "AQ!!!!",
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AQé",
        "tampered",
        12345,
    ],
    ids=["no-prefix", "prefix-only", "not-base64", "zeros", "non-ascii", "tampered", "number"],
)
def test_garbage_message_is_400(server: CamsServer, message: str, garbage: object) -> None:
    value = _tampered(message) if garbage == "tampered" else garbage
    response = post(server, json_body={"EncodedDiagnosticMessage": value})
    assert_error(response, 400, "InvalidParameter.EncodedDiagnosticMessage")


# -- the command line -----------------------------------------------------------------


def decode_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(home, "ram", "decode-diagnostic", *args, clean=True)


def test_cli_prints_the_same_decoded_json(server: CamsServer, message: str) -> None:
    result = decode_cli(server.home, message)
    assert result.returncode == 0, result.stderr
    over_http = post(server, json_body={"EncodedDiagnosticMessage": message}).json()
    assert json.loads(result.stdout) == over_http["DecodedDiagnosticMessage"]
    assert json.loads(result.stdout)["Principal"]["Arn"] == RITA_ARN


@pytest.mark.parametrize("garbage", ["garbage", "AQ!!!!", "tampered"])
def test_cli_refuses_garbage_cleanly(server: CamsServer, message: str, garbage: str) -> None:
    value = _tampered(message) if garbage == "tampered" else garbage
    result = decode_cli(server.home, value)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "cannot decode the message" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_of_another_deployment_cannot_decode(message: str, tmp_path: Path) -> None:
    result = decode_cli(tmp_path, message)
    assert result.returncode != 0
    assert "another deployment" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_failure_is_a_503_not_a_500(
    rich_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database behind an admin call times out or fails: ServiceUnavailable (retry),
    never an InternalError with a traceback."""
    from sqlalchemy.exc import OperationalError

    with CamsServer(world=rich_world, home=tmp_path, admin_token=TOKEN) as running:
        assert running.state is not None
        database = running.state.database

        async def failing(*_args: object) -> object:
            raise OperationalError("SELECT 1", {}, Exception("the server is gone"))

        monkeypatch.setattr(database, "run", failing)
        answer = httpx.get(
            f"{running.url}/_cams/enablements",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["Code"] == "ServiceUnavailable"
