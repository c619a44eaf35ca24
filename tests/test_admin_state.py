"""The admin API's state controls over real HTTP: reset, worlds, enablements and faults.

Issue #6, part 4: a test suite resets the server between tests, applies and reads the
world, reads enablements and injects faults (the next N calls of an action fail with a
code and/or wait), through `/_cams/` with the admin token and through the same methods
of `cams_server.testing.CamsServer`. Every call an SDK makes here is a real call of the
official V2 SDK (or, for replays, a hand-signed V3 request) against a server in a thread.

One server (manual clock) is shared by the module and reset before each test; tests
that take the world away use a server of their own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_tea_openapi.exceptions import (
    AlibabaCloudException,
    ClientException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from cams_server.world.toml_file import load_world, parse_world
from tests.sdk.clients import KEYS, enable, enable_as, v3_client
from tests.sdk.raw import v3_headers
from tests.sdk.wire_asserts import assert_ok_body

TOKEN = "admin-state-token"
ACME = "1000000000000001"
GLOBEX = "2000000000000002"
ACTION = "EnableWhatsappROIMetric"
OTHER_ACTION = "GetChatappTemplateMetric"
INJECTED = "(an injected fault: cams-server was told to fail this call)"

DOCUMENTED = {
    "Product.Unsubscript": "You have not subscribed to the specified product.",
    "System.LimitControl": "The system is under flow control.",
    "Unknown.ResourceOwnerId": "The resource does not belong to the current user.",
}

# A new account, valid on its own (see the bad-world cases below).
HOOLI = """
[[accounts]]
id = "4000000000000004"
name = "hooli"
cams = true

  [[accounts.access_keys]]
  id = "LTAI5tHooliRoot00001"
  secret = "hooli-root-secret"
"""
HOOLI_KEY = ("LTAI5tHooliRoot00001", "hooli-root-secret")


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=ManualClock(), admin_token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(autouse=True)
def _clean(server: CamsServer) -> None:
    """Each test starts from a reset server (the API under test), one second later."""
    ok_json(admin(server, "POST", "reset"))
    server.manual_clock.advance(1.01)


@pytest.fixture
def scratch(rich_world: Path) -> Iterator[CamsServer]:
    """A server of its own, for tests that take the world away."""
    with CamsServer(world=rich_world, clock=ManualClock(), admin_token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def tokenless(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world) as running:
        yield running


# -- helpers --------------------------------------------------------------------------

# One client for the admin calls, without keep-alive: on a reused connection every
# answer of the server waits ~40 ms (see test_metrics_and_logs.py, the Nagle bug).
HTTP = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


def admin(
    server: CamsServer,
    method: str,
    path: str,
    *,
    json: object = None,
    content: bytes | str | None = None,
    token: str | None = TOKEN,
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return HTTP.request(
        method,
        f"{server.url}/_cams/{path}",
        headers=headers,
        json=json,
        content=content,
    )


def ok_json(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["RequestId"] and response.headers["x-acs-request-id"] == body["RequestId"]
    return body


def error_json(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["Code"] == code, body
    assert body["RequestId"] and response.headers["x-acs-request-id"] == body["RequestId"]
    assert body["Message"]
    return body


def faults(server: CamsServer) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = ok_json(admin(server, "GET", "faults"))["Faults"]
    return result


def add_fault(server: CamsServer, **fields: object) -> dict[str, Any]:
    result: dict[str, Any] = ok_json(admin(server, "POST", "faults", json=fields))["Fault"]
    return result


def enable_ok(server: CamsServer, who: str = "acme-root", space: str | None = None) -> None:
    assert_ok_body(enable_as(server.endpoint, who, space))


def refused(server: CamsServer, who: str = "acme-root") -> AlibabaCloudException:
    with pytest.raises(AlibabaCloudException) as info:
        enable(v3_client(server.endpoint, who))
    error = info.value
    assert error.request_id and error.data["RequestId"] == error.request_id
    return error


def key_client(server: CamsServer, key: tuple[str, str]) -> V2Client:
    """The V2 SDK with any key pair, not only those of tests/worlds/rich.toml."""
    return V2Client(
        Config(
            access_key_id=key[0],
            access_key_secret=key[1],
            endpoint=server.endpoint,
            protocol="http",
            region_id="ap-southeast-1",
        )
    )


def key_refused(server: CamsServer, key: tuple[str, str]) -> AlibabaCloudException:
    """A V2 SDK call with any key pair, which must fail."""
    with pytest.raises(AlibabaCloudException) as info:
        key_client(server, key).enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest())
    return info.value


def enablements(server: CamsServer) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = ok_json(admin(server, "GET", "enablements"))["Enablements"]
    return result


def utc(text: str) -> float:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text).timestamp()


def world_text(server: CamsServer) -> str:
    response = admin(server, "GET", "world")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/toml")
    assert response.headers["x-acs-request-id"]
    return response.text


# -- reset ----------------------------------------------------------------------------


def test_reset_forgets_enablements_and_the_next_enable_is_a_new_one(server: CamsServer) -> None:
    first = server.clock.now()
    enable_ok(server, "acme-root")
    enable_ok(server, "alice", "cams-acme-main")
    assert len(enablements(server)) == 2
    assert len(server.enablements()) == 2

    body = ok_json(admin(server, "POST", "reset", json={"World": False}))
    assert body["Reset"] is True and body["World"] is False
    assert enablements(server) == []
    assert server.enablements() == []

    server.manual_clock.advance(30)
    again = server.clock.now()
    enable_ok(server, "olga", "cams-acme-main")
    (entry,) = server.enablements()
    assert entry["account_id"] == ACME and entry["space_id"] == "cams-acme-main"
    # A new enablement: the time and principal of this call, not of the forgotten one.
    assert entry["enabled_by"] == f"acs:ram::{ACME}:user/olga"
    assert abs(utc(entry["enabled_at"]) - again) < 1e-5
    assert abs(utc(entry["enabled_at"]) - first) > 29


def test_reset_without_a_body_keeps_the_world(server: CamsServer) -> None:
    enable_ok(server)
    body = ok_json(admin(server, "POST", "reset"))
    assert body["World"] is False
    assert server.enablements() == []
    enable_ok(server)  # the key still exists
    assert len(server.enablements()) == 1


def test_reset_empties_the_flow_windows(server: CamsServer) -> None:
    for _ in range(5):
        enable_ok(server)
    throttled = refused(server)
    assert isinstance(throttled, ThrottlingException)
    assert INJECTED not in throttled.data["Message"]

    ok_json(admin(server, "POST", "reset", json={}))
    # The same manual-clock instant: only the reset can have emptied the window.
    for _ in range(5):
        enable_ok(server)
    assert isinstance(refused(server), ThrottlingException)


def test_reset_forgets_nonces(server: CamsServer) -> None:
    key_id, secret = KEYS["acme-root"]
    headers = v3_headers(server.endpoint, key_id, secret, {}, nonce=uuid.uuid4().hex)

    def replay() -> httpx.Response:
        return HTTP.post(f"{server.url}/", headers=headers)

    assert replay().json()["Code"] == "OK"
    error_json(replay(), 400, "SignatureNonceUsed")
    ok_json(admin(server, "POST", "reset"))
    assert replay().json()["Code"] == "OK"
    error_json(replay(), 400, "SignatureNonceUsed")


def test_reset_clears_pending_faults(server: CamsServer) -> None:
    server.inject_fault(ACTION, code="ServiceUnavailable", count=5)
    assert len(faults(server)) == 1
    ok_json(admin(server, "POST", "reset"))
    assert faults(server) == []
    enable_ok(server)


def test_reset_with_a_broken_body_changes_nothing(server: CamsServer) -> None:
    enable_ok(server)
    server.inject_fault(ACTION, code="ServiceUnavailable")
    body = error_json(
        admin(server, "POST", "reset", content=b"{World: true"), 400, "InvalidParameter.Body"
    )
    assert "JSON" in body["Message"]
    assert len(server.enablements()) == 1
    assert len(faults(server)) == 1


def test_helper_reset_forgets_enablements(server: CamsServer) -> None:
    enable_ok(server)
    server.reset()
    assert server.enablements() == []
    assert enablements(server) == []


# -- the world ------------------------------------------------------------------------


def test_reset_world_removes_accounts_and_post_world_restores_them(scratch: CamsServer) -> None:
    before = world_text(scratch)
    enable_ok(scratch)

    body = ok_json(admin(scratch, "POST", "reset", json={"World": True}))
    assert body["Reset"] is True and body["World"] is True
    error = key_refused(scratch, KEYS["acme-root"])
    assert isinstance(error, ClientException)
    assert error.code == "InvalidAccessKeyId.NotFound"
    assert error.status_code == 404
    assert KEYS["acme-root"][0] in error.data["Message"]
    assert not parse_world(world_text(scratch)).accounts
    assert scratch.enablements() == []

    applied = ok_json(admin(scratch, "POST", "world", content=before.encode()))
    assert applied["Accounts"] == 3
    enable_ok(scratch)
    enable_ok(scratch, "gus")
    assert world_text(scratch) == before


def test_helper_reset_world_removes_accounts(scratch: CamsServer, rich_world: Path) -> None:
    scratch.reset(world=True)
    assert key_refused(scratch, KEYS["olga"]).code == "InvalidAccessKeyId.NotFound"
    scratch.apply_world(rich_world)
    enable_ok(scratch, "olga")


def test_get_world_round_trips(server: CamsServer, rich_world: Path) -> None:
    text = world_text(server)
    assert parse_world(text) == load_world(rich_world)
    # Secrets are part of the world a test suite saves and restores.
    assert KEYS["acme-root"][1] in text
    applied = ok_json(admin(server, "POST", "world", content=text.encode()))
    assert applied["Accounts"] == 3
    assert world_text(server) == text
    enable_ok(server)


def test_post_world_adds_an_account_and_leaves_the_others(scratch: CamsServer) -> None:
    applied = ok_json(admin(scratch, "POST", "world", content=HOOLI))
    assert applied["Accounts"] == 1
    world = parse_world(world_text(scratch))
    assert [a.id for a in world.accounts] == [ACME, GLOBEX, "3000000000000003", "4000000000000004"]
    # The new key works at once (the server refreshes its world on apply).
    body = key_client(scratch, HOOLI_KEY).enable_whatsapp_roimetric(
        EnableWhatsappROIMetricRequest()
    )
    assert body.body.code == "OK"
    assert [e["account_id"] for e in scratch.enablements()] == ["4000000000000004"]
    enable_ok(scratch)


BAD_WORLDS = {
    "syntax": (
        b'[[accounts]\nid = "4000000000000004"\n',
        ("not valid TOML", "line 1"),
    ),
    "unknown-policy": (
        (
            HOOLI
            + """
  [[accounts.users]]
  name = "gavin"
  policies = ["NoSuchPolicy"]
"""
        ).encode(),
        ("accounts[0].users[0].policies[0]", "NoSuchPolicy"),
    ),
    "key-of-another-account": (
        (
            HOOLI
            + """
  [[accounts.access_keys]]
  id = "LTAI5tGlobexRoot0001"
  secret = "stolen"
"""
        ).encode(),
        ("LTAI5tGlobexRoot0001", "already belongs to account 2000000000000002"),
    ),
    "not-utf8": (HOOLI.encode() + b"\n# caf\xe9\n", ("UTF-8",)),
}


# A valid policy whose Resource names a space: this server authorizes CAMS on the account.
SPACE_SCOPED = (
    HOOLI
    + """
  [[accounts.policies]]
  name = "OneSpace"
  document = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:*",\
"Resource":"acs:cams:*:*:space/cams-hooli-main"}]}'
"""
)


def test_post_world_answers_the_warnings_of_a_valid_world(scratch: CamsServer) -> None:
    applied = ok_json(admin(scratch, "POST", "world", content=SPACE_SCOPED.encode()))
    assert applied["Accounts"] == 1
    (warning,) = applied["Warnings"]
    assert warning.startswith(
        "accounts[0].policies[0].document: Statement[0].Resource: "
        "'acs:cams:*:*:space/cams-hooli-main' in policy 'OneSpace' of account 4000000000000004 "
        "can never match"
    ), warning
    assert "acs:cams:ap-southeast-1:4000000000000004:*" in warning
    assert "OneSpace" in world_text(scratch)  # applied all the same
    again = ok_json(admin(scratch, "POST", "world", content=HOOLI.encode()))
    assert again["Warnings"] == []


@pytest.mark.parametrize("case", list(BAD_WORLDS))
def test_bad_world_is_400_naming_the_problem_and_applies_nothing(
    server: CamsServer, case: str
) -> None:
    before = world_text(server)
    content, expected = BAD_WORLDS[case]
    body = error_json(
        admin(server, "POST", "world", content=content), 400, "InvalidParameter.World"
    )
    for fragment in expected:
        assert fragment in body["Message"], body["Message"]
    assert world_text(server) == before
    # Not even the valid part of the file was applied.
    assert key_refused(server, HOOLI_KEY).code == "InvalidAccessKeyId.NotFound"
    enable_ok(server, "gus")


# -- enablements ----------------------------------------------------------------------


def test_get_enablements_lists_what_the_helper_lists(server: CamsServer) -> None:
    assert enablements(server) == server.enablements() == []
    enable_ok(server, "acme-root")
    server.manual_clock.advance(1)
    enable_ok(server, "alice", "cams-acme-main")
    server.manual_clock.advance(1)
    enable_ok(server, "gus", "cams-globex-main")
    listed = enablements(server)
    assert listed == server.enablements()
    assert {(e["account_id"], e["space_id"], e["enabled_by"]) for e in listed} == {
        (ACME, None, f"acs:ram::{ACME}:root"),
        (ACME, "cams-acme-main", f"acs:ram::{ACME}:user/alice"),
        (GLOBEX, "cams-globex-main", f"acs:ram::{GLOBEX}:user/gus"),
    }


# -- faults: what the caller sees -------------------------------------------------------


def test_limit_control_fault_is_a_throttling_exception_n_times(server: CamsServer) -> None:
    server.inject_fault(ACTION, code="System.LimitControl", count=2)
    for _ in range(2):
        error = refused(server)
        assert isinstance(error, ThrottlingException)
        assert error.code == "System.LimitControl"
        assert error.status_code == 400
        assert error.retry_after == 1000
        assert error.data["Message"].startswith(DOCUMENTED["System.LimitControl"])
        assert INJECTED in error.data["Message"]
    enable_ok(server)
    assert faults(server) == []


def test_service_unavailable_fault_is_a_503_server_exception(server: CamsServer) -> None:
    server.inject_fault(ACTION, code="ServiceUnavailable")
    error = refused(server)
    assert isinstance(error, ServerException)
    assert error.code == "ServiceUnavailable"
    assert error.status_code == 503
    assert INJECTED in error.data["Message"]
    enable_ok(server)


@pytest.mark.parametrize("code", ["Unknown.ResourceOwnerId", "Product.Unsubscript"])
def test_documented_code_fault_carries_its_documented_message(
    server: CamsServer, code: str
) -> None:
    server.inject_fault(ACTION, code=code, count=1)
    error = refused(server)
    assert isinstance(error, ClientException)
    assert not isinstance(error, ThrottlingException)
    assert error.code == code
    assert error.status_code == 400
    assert error.data["Message"].startswith(DOCUMENTED[code]), error.data["Message"]
    enable_ok(server)


def test_fault_for_one_account_leaves_other_accounts_alone(server: CamsServer) -> None:
    fault = add_fault(server, Action=ACTION, AccountId=GLOBEX, Code="ServiceUnavailable", Count=2)
    assert fault == {
        "Action": ACTION,
        "AccountId": GLOBEX,
        "Code": "ServiceUnavailable",
        "Remaining": 2,
        "LatencyMs": 0,
    }
    enable_ok(server, "acme-root")
    enable_ok(server, "alice")
    assert faults(server)[0]["Remaining"] == 2
    # Both the root and a RAM user of the account get it.
    assert refused(server, "globex-root").code == "ServiceUnavailable"
    assert refused(server, "gus").code == "ServiceUnavailable"
    enable_ok(server, "gus")
    enable_ok(server, "acme-root")


def test_fault_of_another_action_does_not_fire(server: CamsServer) -> None:
    server.inject_fault(OTHER_ACTION, code="ServiceUnavailable")
    enable_ok(server)
    assert faults(server) == [
        {
            "Action": OTHER_ACTION,
            "AccountId": None,
            "Code": "ServiceUnavailable",
            "Remaining": 1,
            "LatencyMs": 0,
        }
    ]


def test_latency_fault_delays_the_call_without_failing_it(server: CamsServer) -> None:
    server.inject_fault(ACTION, latency_ms=300)
    started = time.perf_counter()
    enable_ok(server)
    slow = time.perf_counter() - started
    assert slow >= 0.3
    assert faults(server) == []
    started = time.perf_counter()
    enable_ok(server)
    assert time.perf_counter() - started < 0.3


def test_latency_and_code_together_wait_then_fail(server: CamsServer) -> None:
    add_fault(server, Action=ACTION, Code="ServiceUnavailable", LatencyMs=200)
    started = time.perf_counter()
    assert refused(server).code == "ServiceUnavailable"
    assert time.perf_counter() - started >= 0.2
    enable_ok(server)


def test_fault_list_counts_down(server: CamsServer) -> None:
    add_fault(server, Action=ACTION, AccountId=ACME, Code="ServiceUnavailable", Count=3)
    server.inject_fault(OTHER_ACTION, latency_ms=50, count=4)
    listed = faults(server)
    assert [(f["Action"], f["Remaining"]) for f in listed] == [(ACTION, 3), (OTHER_ACTION, 4)]
    assert listed[1] == {
        "Action": OTHER_ACTION,
        "AccountId": None,
        "Code": None,
        "Remaining": 4,
        "LatencyMs": 50,
    }
    refused(server)
    assert [(f["Action"], f["Remaining"]) for f in faults(server)] == [
        (ACTION, 2),
        (OTHER_ACTION, 4),
    ]
    refused(server, "olga")
    refused(server, "alice")
    assert [(f["Action"], f["Remaining"]) for f in faults(server)] == [(OTHER_ACTION, 4)]
    enable_ok(server)


def test_clear_faults_removes_pending_faults(server: CamsServer) -> None:
    server.inject_fault(ACTION, code="ServiceUnavailable", count=3)
    server.inject_fault(ACTION, code="System.LimitControl", count=3, account_id=ACME)
    assert len(faults(server)) == 2
    server.clear_faults()
    assert faults(server) == []
    enable_ok(server)

    server.inject_fault(ACTION, code="ServiceUnavailable", count=3)
    body = ok_json(admin(server, "POST", "faults/clear"))
    assert body["Faults"] == []
    assert faults(server) == []
    enable_ok(server)


def test_faults_apply_after_authentication(server: CamsServer) -> None:
    server.inject_fault(ACTION, code="ServiceUnavailable")
    wrong = key_refused(server, (KEYS["acme-root"][0], "wrong-secret"))
    assert wrong.code == "SignatureDoesNotMatch"
    unknown = key_refused(server, ("LTAI5tNoSuchKey00001", "whatever"))
    assert unknown.code == "InvalidAccessKeyId.NotFound"
    # Neither unauthenticated call used the fault up.
    assert faults(server)[0]["Remaining"] == 1
    assert refused(server).code == "ServiceUnavailable"
    enable_ok(server)


def test_faulted_calls_do_not_use_up_the_flow_window(server: CamsServer) -> None:
    server.inject_fault(ACTION, code="System.LimitControl", count=5)
    for _ in range(5):
        assert INJECTED in refused(server).data["Message"]
    # The same instant: the five faulted calls never reached flow control.
    for _ in range(5):
        enable_ok(server)
    real = refused(server)
    assert isinstance(real, ThrottlingException)
    assert INJECTED not in real.data["Message"]


# -- faults: what the admin API refuses --------------------------------------------------

BAD_FAULTS: dict[str, object] = {
    "no-action": {"Code": "ServiceUnavailable"},
    "action-not-a-string": {"Action": 5, "Code": "ServiceUnavailable"},
    "count-zero": {"Action": ACTION, "Code": "ServiceUnavailable", "Count": 0},
    "count-negative": {"Action": ACTION, "Code": "ServiceUnavailable", "Count": -1},
    "count-string": {"Action": ACTION, "Code": "ServiceUnavailable", "Count": "2"},
    "count-fraction": {"Action": ACTION, "Code": "ServiceUnavailable", "Count": 1.5},
    "neither-code-nor-latency": {"Action": ACTION, "Count": 2},
    "zero-latency-only": {"Action": ACTION, "LatencyMs": 0},
    "latency-too-long": {"Action": ACTION, "LatencyMs": 60_001},
    "latency-negative": {"Action": ACTION, "Code": "ServiceUnavailable", "LatencyMs": -1},
    "code-not-a-string": {"Action": ACTION, "Code": 503},
    "account-not-a-string": {"Action": ACTION, "Code": "ServiceUnavailable", "AccountId": 1},
    "array": [{"Action": ACTION, "Code": "ServiceUnavailable"}],
}


@pytest.mark.parametrize("case", list(BAD_FAULTS))
def test_bad_fault_is_400_and_adds_nothing(server: CamsServer, case: str) -> None:
    response = admin(server, "POST", "faults", json=BAD_FAULTS[case])
    body = error_json(response, 400, "InvalidParameter.Fault")
    assert "Action" in body["Message"] or "Count" in body["Message"]
    assert faults(server) == []
    enable_ok(server)


@pytest.mark.parametrize("content", [b"", b"{not json", b"Action=EnableWhatsappROIMetric"])
def test_fault_body_that_is_not_json_is_400(server: CamsServer, content: bytes) -> None:
    response = admin(server, "POST", "faults", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["Code"] in ("InvalidParameter.Body", "InvalidParameter.Fault")
    assert faults(server) == []


def test_longest_latency_is_accepted(server: CamsServer) -> None:
    fault = add_fault(server, Action=OTHER_ACTION, LatencyMs=60_000)
    assert fault["LatencyMs"] == 60_000 and fault["Code"] is None and fault["Remaining"] == 1
    server.clear_faults()


def test_boolean_count_is_refused(server: CamsServer) -> None:
    response = admin(
        server,
        "POST",
        "faults",
        json={"Action": ACTION, "Code": "ServiceUnavailable", "Count": True},
    )
    error_json(response, 400, "InvalidParameter.Fault")


# -- the token ------------------------------------------------------------------------

ROUTES = [
    ("POST", "reset", {"World": True}),
    ("POST", "world", HOOLI),
    ("GET", "world", None),
    ("GET", "enablements", None),
    ("GET", "faults", None),
    ("POST", "faults", {"Action": ACTION, "Code": "ServiceUnavailable", "Count": 3}),
    ("POST", "faults/clear", None),
    ("POST", "messages", {"records": []}),
    ("POST", "ram/decode-diagnostic", {"EncodedDiagnosticMessage": "AQ"}),
]
ROUTE_IDS = [f"{method}-{path}" for method, path, _ in ROUTES]


def _send(
    server: CamsServer, method: str, path: str, body: object, token: str | None
) -> httpx.Response:
    if isinstance(body, str):
        return admin(server, method, path, content=body, token=token)
    return admin(server, method, path, json=body, token=token)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_every_admin_route_needs_the_token(
    server: CamsServer, method: str, path: str, body: object
) -> None:
    add_fault(server, Action=OTHER_ACTION, Code="ServiceUnavailable")
    before = world_text(server)

    error = error_json(_send(server, method, path, body, None), 401, "Admin.InvalidToken")
    assert not {"Enablements", "Faults", "Fault", "Reset", "Accounts"} & set(error)
    assert "Authorization: Bearer" in error["Message"]

    # Nothing happened.
    assert world_text(server) == before
    assert [f["Remaining"] for f in faults(server)] == [1]


def test_a_wrong_token_changes_nothing_on_any_route(server: CamsServer) -> None:
    enable_ok(server)
    add_fault(server, Action=OTHER_ACTION, Code="ServiceUnavailable")
    before = world_text(server)
    for method, path, body in ROUTES:
        for token in ("wrong-token", f"{TOKEN}x", TOKEN[:-1]):
            response = _send(server, method, path, body, token)
            error_json(response, 401, "Admin.InvalidToken")
    assert world_text(server) == before
    assert [f["Remaining"] for f in faults(server)] == [1]
    assert len(server.enablements()) == 1
    enable_ok(server)  # the world is still there


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_admin_routes_of_a_server_without_a_token_are_disabled(
    tokenless: CamsServer, method: str, path: str, body: object
) -> None:
    response = _send(tokenless, method, path, body, TOKEN)
    assert "CAMS_ADMIN_TOKEN" in error_json(response, 403, "Admin.Disabled")["Message"]


# -- the Python helper ----------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    ["reset", "reset-world", "inject_fault", "clear_faults"],
)
def test_helper_methods_without_admin_token_raise(
    rich_world: Path, tmp_path: Path, method: str
) -> None:
    helper = CamsServer(world=rich_world, home=tmp_path)
    actions = {
        "reset": helper.reset,
        "reset-world": lambda: helper.reset(world=True),
        "inject_fault": lambda: helper.inject_fault(ACTION, code="ServiceUnavailable"),
        "clear_faults": helper.clear_faults,
    }
    with pytest.raises(RuntimeError, match=r"admin_token"):
        actions[method]()


def test_helper_methods_of_a_running_tokenless_server_raise(tokenless: CamsServer) -> None:
    with pytest.raises(RuntimeError, match=r"admin_token"):
        tokenless.inject_fault(ACTION, code="ServiceUnavailable")


def test_helper_reports_a_refused_fault(server: CamsServer) -> None:
    with pytest.raises(RuntimeError, match=r"InvalidParameter\.Fault"):
        server.inject_fault(ACTION)  # neither a code nor a latency
    with pytest.raises(RuntimeError, match=r"InvalidParameter\.Fault"):
        server.inject_fault(ACTION, code="ServiceUnavailable", count=0)
    assert faults(server) == []


def test_reset_world_string_false_does_not_delete_the_world(scratch: CamsServer) -> None:
    response = admin(scratch, "POST", "reset", json={"World": "false"})
    if response.status_code == 200:
        assert response.json()["World"] is False
    else:
        error_json(response, 400, "InvalidParameter.Body")
    enable_ok(scratch)


def test_a_fault_for_an_unknown_action_is_refused(rich_world: Path) -> None:
    with (
        CamsServer(world=rich_world, admin_token="fault-token") as server,
        pytest.raises(RuntimeError, match=r"InvalidParameter\.Fault"),
    ):
        server.inject_fault("EnableWhatsappROIMetrc", "ServiceUnavailable")
