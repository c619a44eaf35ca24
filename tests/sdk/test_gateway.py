"""The gateway on the wire: signatures, keys, timestamps, nonces, actions, versions,
form bodies, XML, health and flow control, as the official SDKs and hand-made requests
see them (contract section 1 and 2, reference/wire.md sections 2-4).

One server for the module; its clock is a `ManualClock` moved 1.01 s before each test so
every test starts with a fresh flow-control window (5 calls/s per account). A test makes
at most 5 authenticated calls per account. Tests that move the clock far use a server of
their own.
"""

from __future__ import annotations

import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
from aliyunsdkcore.client import AcsClient

from cams_server.clock import ManualClock
from cams_server.rpc.catalog import _MAX_STRING
from cams_server.server import implemented_catalog
from cams_server.testing import CamsServer
from cams_server.wire.signing import (
    EMPTY_SHA256,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_string_to_sign,
)
from tests.sdk import raw
from tests.sdk.clients import KEYS, enable, legacy_client, legacy_request, v3_client
from tests.sdk.wire_asserts import (
    REQUEST_ID,
    assert_error,
    assert_legacy_error,
    assert_ok_body,
    assert_sdk_error,
    sign_v3,
)

ACME = "1000000000000001"
ROOT_ID, ROOT_SECRET = KEYS["acme-root"]
UNKNOWN_KEY = "LTAI5tNoSuchKey00001"
MISMATCH_PREFIX = (
    "Specified signature is not matched with our calculation. server string to sign is:"
)
FORM = {"content-type": "application/x-www-form-urlencoded"}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(rich_world: Path, clock: ManualClock) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=clock) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh_flow_window(clock: ManualClock, server: CamsServer) -> None:
    clock.advance(1.01)


# -- helpers --------------------------------------------------------------------------------


def post(
    server: CamsServer,
    headers: dict[str, str],
    query: dict[str, str] | None = None,
    body: bytes = b"",
    method: str = "POST",
) -> httpx.Response:
    """Send hand-made headers as UTF-8 bytes (httpx refuses non-ASCII str values)."""
    url = f"{server.url}/" + (f"?{urlencode(query)}" if query else "")
    encoded = {k: v.encode("utf-8") for k, v in headers.items()}
    return httpx.request(method, url, headers=encoded, content=body)


def v1_post(server: CamsServer, params: dict[str, str], method: str = "POST") -> httpx.Response:
    return httpx.request(method, f"{server.url}/?{urlencode(params)}")


def sdk_client(endpoint: str, key_id: str, secret: str, *, v1: bool = False) -> V2Client:
    config = Config(
        access_key_id=key_id,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id="ap-southeast-1",
    )
    if v1:
        config.signature_algorithm = "v2"
    return V2Client(config)


def assert_ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert_ok_body(body)
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    return body


def replace_auth_algorithm(headers: dict[str, str], algorithm: str) -> dict[str, str]:
    _, _, rest = headers["Authorization"].partition(" ")
    return {**headers, "Authorization": f"{algorithm} {rest}"}


# -- SignatureDoesNotMatch ------------------------------------------------------------------


def test_wrong_secret_v3_sdk(server: CamsServer) -> None:
    with pytest.raises(ClientException) as info:
        enable(v3_client(server.endpoint, "acme-root", secret="not-the-secret"))
    body = assert_sdk_error(info.value, "SignatureDoesNotMatch", 400)
    assert re.fullmatch(
        re.escape(MISMATCH_PREFIX) + r"ACS3-HMAC-SHA256\n[0-9a-f]{64}", body["Message"]
    ), body["Message"]


def test_wrong_secret_v1_mode_sdk(server: CamsServer) -> None:
    with pytest.raises(ClientException) as info:
        enable(v3_client(server.endpoint, "acme-root", secret="not-the-secret", v1=True))
    body = assert_sdk_error(info.value, "SignatureDoesNotMatch", 400)
    message = body["Message"]
    assert message.startswith(MISMATCH_PREFIX + "POST&%2F&"), message
    string_to_sign = message.split("server string to sign is:", 1)[1]
    assert f"AccessKeyId%3D{ROOT_ID}" in string_to_sign
    assert "Action%3DEnableWhatsappROIMetric" in string_to_sign
    assert ":" not in string_to_sign  # the legacy SDK splits the message on ':'


def test_wrong_secret_v3_raw_server_string_to_sign(server: CamsServer) -> None:
    query = {"CustSpaceId": "cams-acme-main"}
    headers = raw.v3_headers(server.endpoint, ROOT_ID, "not-the-secret", query)
    signed = sorted(k for k in headers if k != "Authorization")
    canonical = v3_canonical_request(
        "POST", "/", list(query.items()), {k: [headers[k]] for k in signed}, signed, EMPTY_SHA256
    )
    body = assert_error(post(server, headers, query), "SignatureDoesNotMatch", 400)
    assert body["Message"] == MISMATCH_PREFIX + v3_string_to_sign(canonical)


def test_wrong_secret_v1_raw_server_string_to_sign(server: CamsServer) -> None:
    # A value that exercises the percent-encoding rules (space, '*', '~', '/', non-ASCII).
    params = raw.v1_params(ROOT_ID, "not-the-secret", {"CustSpaceId": "a b*c~d/é"})
    body = assert_error(v1_post(server, params), "SignatureDoesNotMatch", 400)
    assert body["Message"].startswith(MISMATCH_PREFIX)
    after = body["Message"].split("is:", 1)[1]
    assert after == v1_string_to_sign("POST", params.items())


def test_tampered_query_after_signing_v3(server: CamsServer) -> None:
    headers = raw.v3_headers(
        server.endpoint, ROOT_ID, ROOT_SECRET, {"CustSpaceId": "cams-acme-main"}
    )
    response = post(server, headers, {"CustSpaceId": "cams-acme-cust-1"})
    assert_error(response, "SignatureDoesNotMatch", 400)


def test_tampered_query_after_signing_v1(server: CamsServer) -> None:
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {"CustSpaceId": "cams-acme-main"})
    params["CustSpaceId"] = "cams-acme-cust-1"
    assert_error(v1_post(server, params), "SignatureDoesNotMatch", 400)


def test_added_query_parameter_after_signing_v3(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    assert_error(post(server, headers, {"IsvCode": "x"}), "SignatureDoesNotMatch", 400)


def test_legacy_sdk_wrong_secret_is_invalid_access_key_secret(server: CamsServer) -> None:
    # The legacy SDK rewrites SignatureDoesNotMatch into InvalidAccessKeySecret only when the
    # server's string to sign (after 'server string to sign is:') equals its own.
    client = legacy_client("acme-root", secret="not-the-secret")
    with pytest.raises(LegacyServerException) as info:
        client.do_action_with_exception(legacy_request(server.endpoint))
    assert_legacy_error(info.value, "InvalidAccessKeySecret", 400)


def test_non_ascii_v3_signature_is_a_mismatch(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    prefix = headers["Authorization"].rsplit("Signature=", 1)[0]
    headers["Authorization"] = prefix + "Signature=é"
    assert_error(post(server, headers), "SignatureDoesNotMatch", 400)


# -- InvalidAccessKeyId ---------------------------------------------------------------------


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1-mode"])
def test_unknown_access_key_v2_sdk(server: CamsServer, v1: bool) -> None:
    with pytest.raises(ClientException) as info:
        enable(sdk_client(server.endpoint, UNKNOWN_KEY, "whatever", v1=v1))
    body = assert_sdk_error(info.value, "InvalidAccessKeyId.NotFound", 404)
    assert body["Message"].startswith("Specified access key is not found.")
    assert UNKNOWN_KEY in body["Message"]


def test_unknown_access_key_legacy_sdk(server: CamsServer) -> None:
    client = AcsClient(UNKNOWN_KEY, "whatever", "ap-southeast-1", auto_retry=False)
    with pytest.raises(LegacyServerException) as info:
        client.do_action_with_exception(legacy_request(server.endpoint))
    assert_legacy_error(info.value, "InvalidAccessKeyId.NotFound", 404)


def test_access_key_with_stray_whitespace_is_not_found(server: CamsServer) -> None:
    params = raw.v1_params(ROOT_ID + " ", ROOT_SECRET, {})
    body = assert_error(v1_post(server, params), "InvalidAccessKeyId.NotFound", 404)
    assert repr(ROOT_ID + " ") in body["Message"]


@pytest.mark.parametrize("who", ["acme-root-inactive", "ivan-inactive"], ids=["root", "user"])
@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1-mode"])
def test_inactive_access_key_v2_sdk(server: CamsServer, who: str, v1: bool) -> None:
    with pytest.raises(ClientException) as info:
        enable(v3_client(server.endpoint, who, v1=v1))
    body = assert_sdk_error(info.value, "InvalidAccessKeyId.Inactive", 400)
    assert body["Message"].startswith("Specified access key is disabled.")
    assert KEYS[who][0] in body["Message"]


@pytest.mark.parametrize("who", ["acme-root-inactive", "ivan-inactive"], ids=["root", "user"])
def test_inactive_access_key_legacy_sdk(server: CamsServer, who: str) -> None:
    with pytest.raises(LegacyServerException) as info:
        legacy_client(who).do_action_with_exception(legacy_request(server.endpoint))
    assert_legacy_error(info.value, "InvalidAccessKeyId.Inactive", 400)


# -- IncompleteSignature --------------------------------------------------------------------


def test_no_signature_at_all(server: CamsServer) -> None:
    response = httpx.post(f"{server.url}/?Action=EnableWhatsappROIMetric&Version=2020-06-06")
    body = assert_error(response, "IncompleteSignature", 400)
    assert body["Message"].startswith("The request signature does not conform to Aliyun standards.")


@pytest.mark.parametrize(
    "authorization",
    [
        "garbage",
        "ACS3-HMAC-SHA256",
        "ACS3-HMAC-SHA256 garbage",
        "Bearer abc.def.ghi",
        "ACS3-HMAC-SHA256 Credential=a,Credential",
    ],
)
def test_garbage_authorization_header(server: CamsServer, authorization: str) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    headers["Authorization"] = authorization
    assert_error(post(server, headers), "IncompleteSignature", 400)


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_authorization_missing_part(server: CamsServer, part: str) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    algorithm, _, rest = headers["Authorization"].partition(" ")
    kept = [p for p in rest.split(",") if not p.startswith(f"{part}=")]
    headers["Authorization"] = f"{algorithm} {','.join(kept)}"
    body = assert_error(post(server, headers), "IncompleteSignature", 400)
    assert part in body["Message"]


@pytest.mark.parametrize("name", ["x-acs-signature-nonce", "x-acs-date"])
def test_acs_header_sent_but_not_signed(server: CamsServer, name: str) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    signed = [k for k in headers if k not in ("Authorization", name)]
    resigned = sign_v3(ROOT_ID, ROOT_SECRET, headers, signed=signed)
    body = assert_error(post(server, resigned), "IncompleteSignature", 400)
    assert name in body["Message"]


def test_content_sha256_does_not_match_body(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, body=b"CustSpaceId=a")
    response = post(server, {**headers, **FORM}, body=b"CustSpaceId=b")
    body = assert_error(response, "IncompleteSignature", 400)
    assert "x-acs-content-sha256" in body["Message"]


# -- InvalidSignatureMethod -----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ACS3-HMAC-SM3", "ACS3-RSA-SHA256"])
def test_unsupported_v3_algorithm(server: CamsServer, algorithm: str) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    response = post(server, replace_auth_algorithm(headers, algorithm))
    body = assert_error(response, "InvalidSignatureMethod", 400)
    assert body["Message"].startswith("Specified signature method is not valid.")
    assert algorithm in body["Message"]


def test_unsupported_v1_signature_method(server: CamsServer) -> None:
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {"SignatureMethod": "HMAC-SHA256"})
    body = assert_error(v1_post(server, params), "InvalidSignatureMethod", 400)
    assert "HMAC-SHA256" in body["Message"]


# -- InvalidTimeStamp -----------------------------------------------------------------------

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize(
    "date",
    [
        "2026-01-02 03:04:05",
        "2026-01-02T03:04:05",
        "2026-01-02T03:04:05+08:00",
        "Fri, 27 Nov 2026 11:55:26 GMT",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "now",
        "unicode-digits",
    ],
)
def test_bad_v3_date_format(server: CamsServer, clock: ManualClock, date: str) -> None:
    if date == "unicode-digits":
        date = raw.iso(clock.now()).translate(ARABIC_INDIC)
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, date=date)
    body = assert_error(post(server, headers), "InvalidTimeStamp.Format", 400)
    assert body["Message"].startswith("Specified time stamp or date value is not well formatted.")
    assert "x-acs-date" in body["Message"]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-01-02 03:04:05",
        "1700000000",
        "2026/01/02T03:04:05Z",
        "2026-01-02T25:04:05Z",
        "trailing-newline",
        "unicode-digits",
    ],
)
def test_bad_v1_timestamp_format(server: CamsServer, clock: ManualClock, timestamp: str) -> None:
    if timestamp == "trailing-newline":
        timestamp = raw.iso(clock.now()) + "\n"
    elif timestamp == "unicode-digits":
        timestamp = raw.iso(clock.now()).translate(ARABIC_INDIC)
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {}, timestamp=timestamp)
    body = assert_error(v1_post(server, params), "InvalidTimeStamp.Format", 400)
    assert "Timestamp" in body["Message"]


FIXED_DATE = "2030-01-01T00:00:00Z"
FIXED_TS = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
# server clock minus request time -> expected outcome (None = accepted)
WINDOW_CASES = [
    (16 * 60, "960 s behind"),
    (-16 * 60, "960 s ahead of"),
    (15 * 60 + 1, "901 s behind"),
    (14 * 60, None),
    (-14 * 60, None),
    (15 * 60, None),
]


def test_timestamp_window_v3(rich_world: Path) -> None:
    clock = ManualClock(start=FIXED_TS)
    with CamsServer(world=rich_world, clock=clock) as other:
        for offset, expected in WINDOW_CASES:
            clock.set(FIXED_TS + offset)
            response = raw.v3_call(other.endpoint, ROOT_ID, ROOT_SECRET, date=FIXED_DATE)
            if expected is None:
                assert_ok(response)
                continue
            body = assert_error(response, "InvalidTimeStamp.Expired", 400)
            assert body["Message"].startswith("Specified time stamp or date value is expired.")
            assert f"x-acs-date {FIXED_DATE} is {expected} the server time" in body["Message"]


def test_timestamp_window_v1(rich_world: Path) -> None:
    clock = ManualClock(start=FIXED_TS)
    with CamsServer(world=rich_world, clock=clock) as other:
        for offset, expected in WINDOW_CASES:
            clock.set(FIXED_TS + offset)
            response = raw.v1_call(other.endpoint, ROOT_ID, ROOT_SECRET, timestamp=FIXED_DATE)
            if expected is None:
                assert_ok(response)
                continue
            body = assert_error(response, "InvalidTimeStamp.Expired", 400)
            assert f"Timestamp {FIXED_DATE} is {expected} the server time" in body["Message"]


def test_timestamp_window_sdk(rich_world: Path) -> None:
    """The SDK sends the real time; the server's clock is moved around it."""
    clock = ManualClock()
    with CamsServer(world=rich_world, clock=clock) as other:
        client = v3_client(other.endpoint, "acme-root")
        for offset, expired in [
            (16 * 60, True),
            (-16 * 60, True),
            (14 * 60, False),
            (-14 * 60, False),
        ]:
            clock.set(time.time() + offset)
            if not expired:
                assert enable(client)["Code"] == "OK"
                continue
            with pytest.raises(ClientException) as info:
                enable(client)
            body = assert_sdk_error(info.value, "InvalidTimeStamp.Expired", 400)
            direction = "behind" if offset > 0 else "ahead of"
            assert re.search(rf"is 9[56]\d s {direction} the server time", body["Message"])


# -- SignatureNonceUsed ---------------------------------------------------------------------


def test_replayed_v3_request_is_refused(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    assert_ok(post(server, headers))
    body = assert_error(post(server, headers), "SignatureNonceUsed", 400)
    assert body["Message"].startswith("Specified signature nonce was used already.")
    assert headers["x-acs-signature-nonce"] in body["Message"]


def test_replayed_v1_request_is_refused(server: CamsServer) -> None:
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {})
    assert_ok(v1_post(server, params))
    body = assert_error(v1_post(server, params), "SignatureNonceUsed", 400)
    assert params["SignatureNonce"] in body["Message"]


def test_nonce_scope_is_per_access_key(server: CamsServer) -> None:
    nonce = uuid.uuid4().hex
    ivan_id, ivan_secret = KEYS["ivan"]
    assert_ok(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce))
    assert_ok(raw.v3_call(server.endpoint, ivan_id, ivan_secret, nonce=nonce))
    assert_error(
        raw.v3_call(server.endpoint, ivan_id, ivan_secret, nonce=nonce), "SignatureNonceUsed"
    )
    # V1 and V3 share the nonces of one key.
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce)
    assert_error(response, "SignatureNonceUsed")


def test_forged_request_does_not_burn_nonce(server: CamsServer) -> None:
    nonce = uuid.uuid4().hex
    forged = raw.v3_call(server.endpoint, ROOT_ID, "forged-secret", nonce=nonce)
    assert_error(forged, "SignatureDoesNotMatch")
    assert_ok(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce))


def test_forged_v1_request_does_not_burn_nonce(server: CamsServer) -> None:
    nonce = uuid.uuid4().hex
    forged = raw.v1_call(server.endpoint, ROOT_ID, "forged-secret", nonce=nonce)
    assert_error(forged, "SignatureDoesNotMatch")
    assert_ok(raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce))


def test_expired_request_does_not_burn_nonce(server: CamsServer, clock: ManualClock) -> None:
    nonce = uuid.uuid4().hex
    stale = raw.iso(clock.now() - 16 * 60)
    response = raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce, date=stale)
    assert_error(response, "InvalidTimeStamp.Expired")
    fresh = raw.iso(clock.now())
    assert_ok(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce, date=fresh))


# -- Missing V1 parameters ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["AccessKeyId", "Signature", "SignatureNonce", "Timestamp"])
def test_missing_v1_parameter(server: CamsServer, name: str) -> None:
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {})
    del params[name]
    body = assert_error(v1_post(server, params), f"Missing{name}", 400)
    assert body["Message"] == f"{name} is mandatory for this action."


# -- InvalidAction.NotFound -----------------------------------------------------------------


def test_unknown_action_v3(server: CamsServer) -> None:
    response = raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET, action="NoSuchAction")
    body = assert_error(response, "InvalidAction.NotFound", 404)
    assert body["Message"].startswith(
        "Specified api is not found, please check your url and method."
    )


def test_unknown_action_v1(server: CamsServer) -> None:
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, action="NoSuchAction")
    assert_error(response, "InvalidAction.NotFound", 404)


def test_action_of_another_product_is_not_found(server: CamsServer) -> None:
    response = raw.v1_call(
        server.endpoint, ROOT_ID, ROOT_SECRET, action="DescribeRegions", version="2014-05-26"
    )
    assert_error(response, "InvalidAction.NotFound", 404)


@pytest.mark.parametrize("path", ["/foo", "/EnableWhatsappROIMetric", "/_cams", "//"])
def test_path_other_than_root_is_not_found(server: CamsServer, path: str) -> None:
    response = httpx.get(f"{server.url}{path}?Action=EnableWhatsappROIMetric&Version=2020-06-06")
    assert_error(response, "InvalidAction.NotFound", 404)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_unsupported_http_method(server: CamsServer, method: str) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, method=method)
    body = assert_error(post(server, headers, method=method), "InvalidAction.NotFound", 404)
    assert method in body["Message"]


# -- InvalidVersion / MissingVersion --------------------------------------------------------


def test_wrong_version_v3(server: CamsServer) -> None:
    response = raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET, version="2015-04-01")
    body = assert_error(response, "InvalidVersion", 400)
    assert body["Message"].startswith("Specified parameter Version is not valid.")
    assert "2020-06-06" in body["Message"]


def test_wrong_version_v1(server: CamsServer) -> None:
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, version="2015-04-01")
    assert_error(response, "InvalidVersion", 400)


def test_missing_version_v1(server: CamsServer) -> None:
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {})
    del params["Version"]
    params["Signature"] = v1_signature(
        ROOT_SECRET, v1_string_to_sign("POST", [(k, v) for k, v in params.items()])
    )
    body = assert_error(v1_post(server, params), "MissingVersion", 400)
    assert body["Message"] == "Version is mandatory for this action."


def test_missing_version_v3(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    del headers["x-acs-version"]
    body = assert_error(post(server, sign_v3(ROOT_ID, ROOT_SECRET, headers)), "MissingVersion")
    assert body["Message"] == "Version is mandatory for this action."


# -- Business parameters in a form body -----------------------------------------------------


def _v1_form_call(server: CamsServer, key: str, form: dict[str, str]) -> httpx.Response:
    """A V1 call whose signature covers `form`, sent as an url-encoded body."""
    key_id, secret = KEYS[key]
    params = raw.v1_params(key_id, secret, form)
    query = {k: v for k, v in params.items() if k not in form}
    return httpx.post(
        f"{server.url}/?{urlencode(query)}", content=urlencode(form).encode(), headers=FORM
    )


def _enabled_spaces(server: CamsServer, account: str) -> set[str | None]:
    return {e["space_id"] for e in server.enablements() if e["account_id"] == account}


def test_v1_form_body_business_parameter_is_honoured(server: CamsServer) -> None:
    assert "cams-acme-main" not in _enabled_spaces(server, ACME)
    assert_ok(_v1_form_call(server, "acme-root", {"CustSpaceId": "cams-acme-main"}))
    assert "cams-acme-main" in _enabled_spaces(server, ACME)
    [row] = [e for e in server.enablements() if e["space_id"] == "cams-acme-main"]
    assert row["enabled_by"] == f"acs:ram::{ACME}:root"


def test_v1_form_body_foreign_space_is_refused(server: CamsServer) -> None:
    response = _v1_form_call(server, "acme-root", {"CustSpaceId": "cams-globex-main"})
    assert_error(response, "Unknown.ResourceOwnerId", 400)


def test_v1_form_body_is_covered_by_signature(server: CamsServer) -> None:
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {"CustSpaceId": "cams-acme-cust-2"})
    query = {k: v for k, v in params.items() if k != "CustSpaceId"}
    response = httpx.post(
        f"{server.url}/?{urlencode(query)}", content=b"CustSpaceId=cams-acme-main", headers=FORM
    )
    assert_error(response, "SignatureDoesNotMatch", 400)


def test_v3_form_body_business_parameter_is_honoured(server: CamsServer) -> None:
    body = b"CustSpaceId=cams-acme-cust-1"
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, body=body, extra=FORM)
    assert "cams-acme-cust-1" not in _enabled_spaces(server, ACME)
    assert_ok(post(server, headers, body=body))
    assert "cams-acme-cust-1" in _enabled_spaces(server, ACME)


def _cust_space_limit() -> int:
    op = implemented_catalog().get("EnableWhatsappROIMetric")
    [spec] = [p for p in op.parameters if p.name == "CustSpaceId"]
    return spec.max_length or _MAX_STRING


@pytest.mark.parametrize("where", ["query", "form"])
def test_cust_space_id_too_long(server: CamsServer, where: str) -> None:
    value = "s" * (_cust_space_limit() + 1)
    if where == "query":
        response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, {"CustSpaceId": value})
    else:
        response = _v1_form_call(server, "acme-root", {"CustSpaceId": value})
    body = assert_error(response, "InvalidParameter", 400)
    assert body["Message"].startswith("Specified parameter CustSpaceId is not valid.")


def test_cust_space_id_at_the_limit_passes_validation(server: CamsServer) -> None:
    value = "s" * _cust_space_limit()
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, {"CustSpaceId": value})
    assert_error(response, "Unknown.ResourceOwnerId", 400)


# -- Format=XML -----------------------------------------------------------------------------


def _xml(response: httpx.Response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    return ET.fromstring(response.content)  # noqa: S314 (our own server's answer)


def test_v1_format_xml_success(server: CamsServer) -> None:
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, {"Format": "XML"})
    assert response.status_code == 200, response.text
    root = _xml(response)
    assert root.tag == "EnableWhatsappROIMetricResponse"
    assert root.findtext("Code") == "OK"
    assert root.findtext("RequestId") == response.headers["x-acs-request-id"]
    assert REQUEST_ID.fullmatch(root.findtext("RequestId") or "")


def test_v1_format_xml_error(server: CamsServer) -> None:
    response = raw.v1_call(server.endpoint, ROOT_ID, "not-the-secret", {"Format": "XML"})
    assert response.status_code == 400
    root = _xml(response)
    assert root.tag == "Error"
    assert root.findtext("Code") == "SignatureDoesNotMatch"
    for name in ("Message", "HostId", "Recommend"):
        assert root.findtext(name), name
    assert (root.findtext("Message") or "").startswith(MISMATCH_PREFIX + "POST&%2F&")
    assert root.findtext("RequestId") == response.headers["x-acs-request-id"]


def test_v1_format_xml_request_form_error(server: CamsServer) -> None:
    params = {"Format": "xml"}
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, params, version="2015-04-01")
    assert response.status_code == 400
    root = _xml(response)
    assert root.findtext("Code") == "InvalidVersion"
    assert root.findtext("RequestId") == response.headers["x-acs-request-id"]


# -- Success, health ------------------------------------------------------------------------


def test_success_carries_request_id_header(server: CamsServer) -> None:
    body = assert_ok(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET))
    assert body == {
        "RequestId": body["RequestId"],
        "Code": "OK",
        "Message": "None",
        "AccessDeniedDetail": "NONE",
    }


def test_health(server: CamsServer) -> None:
    response = httpx.get(f"{server.url}/_cams/health")
    assert response.status_code == 200
    body = response.json()
    assert REQUEST_ID.fullmatch(body["RequestId"])
    assert response.headers["x-acs-request-id"] == body["RequestId"]


# -- Flow control ---------------------------------------------------------------------------

RATE_LIMIT = re.compile(r"Limit:5,Remain:0,TimeLeft:(\d+),Reset:(\d+)")


def _check_throttled(response: httpx.Response, clock: ManualClock) -> int:
    body = assert_error(response, "System.LimitControl", 400)
    assert body["Message"].startswith("The system is under flow control.")
    retry_after = int(response.headers["x-acs-retry-after"])
    assert 0 < retry_after <= 1000
    match = RATE_LIMIT.fullmatch(response.headers["x-ratelimit-user-api"])
    assert match, response.headers["x-ratelimit-user-api"]
    assert int(match.group(1)) == retry_after
    assert abs(int(match.group(2)) - (clock.now() + retry_after / 1000)) <= 1
    return retry_after


def test_flow_control_headers(server: CamsServer, clock: ManualClock) -> None:
    for _ in range(5):
        assert_ok(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET))
    first = _check_throttled(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET), clock)
    assert first == 1000  # all five were admitted at the same (manual) instant
    clock.advance(0.4)
    assert _check_throttled(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET), clock) == 600
    # The V2 SDK turns the header into a ThrottlingException carrying the wait.
    with pytest.raises(ThrottlingException) as info:
        enable(v3_client(server.endpoint, "acme-root"))
    assert info.value.code == "System.LimitControl"
    assert info.value.retry_after == 600
    clock.advance(0.61)
    assert_ok(raw.v3_call(server.endpoint, ROOT_ID, ROOT_SECRET))
