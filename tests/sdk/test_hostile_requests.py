"""What an attacker review found on the request path, each as a regression test.

Replays through header normalisation, a call whose meaning comes from unsigned input,
bodies read and parsed before routing, and a metric read that answered 500. Raw
sockets send the bytes no SDK would (trailing whitespace, repeated headers).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from cams_server.clock import ManualClock
from cams_server.gateway.nonces import QuotaLimits
from cams_server.testing import CamsServer
from cams_server.wire.request import MAX_PARAMETERS
from cams_server.wire.signing import (
    EMPTY_SHA256,
    sha256_hex,
    v1_signature,
    v1_string_to_sign,
)
from tests.sdk import raw
from tests.sdk.clients import KEYS
from tests.sdk.wire_asserts import (
    SOCKET_TIMEOUT,
    assert_error,
    assert_still_serving,
    check_error,
    exchange,
    parse_response,
    sign_v3,
)

ACME = "1000000000000001"
ROOT_ID, ROOT_SECRET = KEYS["acme-root"]
FORM = "application/x-www-form-urlencoded"
STS_WORLD = Path(__file__).parent.parent / "worlds" / "sts.toml"
IVAN_ID, IVAN_SECRET = "LTAI5tAcmeIvan000001", "ivan-secret"
INT64_MAX = str(2**63 - 1)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(rich_world: Path, clock: ManualClock) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=clock, admin_token="admin-token") as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh_flow_window(clock: ManualClock, server: CamsServer) -> None:
    clock.advance(1.01)


# -- helpers --------------------------------------------------------------------------------


def raw_request(
    endpoint: str,
    headers: list[tuple[str, str]],
    *,
    query: str = "",
    body: bytes = b"",
    path: str = "/",
) -> bytes:
    """The bytes of one POST, headers exactly as given (repeats and whitespace kept)."""
    lines = [f"POST {path}{'?' + query if query else ''} HTTP/1.1", f"Host: {endpoint}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


def send(server: CamsServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    response = parse_response(exchange(server.port, data))
    return response.status, response.headers, response.body


def v3_signed(
    endpoint: str,
    key_id: str,
    secret: str,
    *,
    nonce: str,
    action: str = raw.ACTION,
    version: str = raw.VERSION,
    query: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The headers of a V3 call (host included in the signature), as ordered pairs."""
    headers = raw.v3_headers(
        endpoint, key_id, secret, query or {}, action=action, version=version, nonce=nonce
    )
    return [(k.lower(), v) for k, v in headers.items() if k != "host"]


def replace(headers: list[tuple[str, str]], name: str, *values: str) -> list[tuple[str, str]]:
    """`headers` with header `name` sent once per value in `values` (same place)."""
    out: list[tuple[str, str]] = []
    for key, value in headers:
        if key == name:
            out += [(key, v) for v in values]
        else:
            out.append((key, value))
    return out


def enabled_spaces(server: CamsServer) -> set[str | None]:
    return {e["space_id"] for e in server.enablements() if e["account_id"] == ACME}


# -- 1. replays through header normalisation -----------------------------------------------


@pytest.mark.parametrize("suffix", ["  ", "\t", " \t "])
def test_nonce_with_trailing_whitespace_is_the_same_nonce(server: CamsServer, suffix: str) -> None:
    nonce = uuid.uuid4().hex
    headers = v3_signed(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce)
    status, _, payload = send(server, raw_request(server.endpoint, headers))
    assert status == 200, payload
    replay = replace(headers, "x-acs-signature-nonce", nonce + suffix)
    status, response_headers, payload = send(server, raw_request(server.endpoint, replay))
    check_error(status, response_headers, payload, "SignatureNonceUsed", 400)


def test_nonce_with_leading_whitespace_is_the_same_nonce(server: CamsServer) -> None:
    nonce = uuid.uuid4().hex
    headers = v3_signed(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce)
    assert send(server, raw_request(server.endpoint, headers))[0] == 200
    replay = replace(headers, "x-acs-signature-nonce", "\t " + nonce)
    status, response_headers, payload = send(server, raw_request(server.endpoint, replay))
    check_error(status, response_headers, payload, "SignatureNonceUsed", 400)


@pytest.mark.parametrize("order", [("n1", "n2"), ("n2", "n1")])
def test_signed_nonce_list_split_into_repeated_headers_is_refused(
    server: CamsServer, order: tuple[str, str]
) -> None:
    """A V3 signature over `n1,n2` verifies for two headers n1 and n2 (the SDKs sort and
    join repeats): each ordering must not pass for a fresh nonce."""
    base = uuid.uuid4().hex
    nonce = f"{base}n1,{base}n2"
    headers = v3_signed(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce)
    assert send(server, raw_request(server.endpoint, headers))[0] == 200
    split = replace(headers, "x-acs-signature-nonce", *(base + part for part in order))
    status, response_headers, payload = send(server, raw_request(server.endpoint, split))
    body = check_error(status, response_headers, payload, "InvalidParameter", 400)
    assert "x-acs-signature-nonce is sent more than once" in body["Message"]


@pytest.mark.parametrize(
    "name", ["authorization", "x-acs-date", "x-acs-action", "x-acs-version", "content-type"]
)
def test_repeated_meaningful_header_is_refused(server: CamsServer, name: str) -> None:
    headers = v3_signed(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=uuid.uuid4().hex)
    headers += [("content-type", FORM)] if name == "content-type" else []
    value = dict(headers)[name]
    repeated = replace(headers, name, value, value)
    status, response_headers, payload = send(server, raw_request(server.endpoint, repeated))
    body = check_error(status, response_headers, payload, "InvalidParameter", 400)
    assert f"{name} is sent more than once" in body["Message"]


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_v1_repeated_nonce_parameter_is_refused(server: CamsServer, order: tuple[str, str]) -> None:
    """V1 signs the sorted pairs: `SignatureNonce=a&SignatureNonce=b` in either order
    would verify, and each order would name a different nonce."""
    base = uuid.uuid4().hex
    params = raw.v1_params(ROOT_ID, ROOT_SECRET, {}, nonce=base + "a")
    pairs = [(k, v) for k, v in params.items() if k not in ("SignatureNonce", "Signature")]
    pairs += [("SignatureNonce", base + order[0]), ("SignatureNonce", base + order[1])]
    pairs.append(("Signature", v1_signature(ROOT_SECRET, v1_string_to_sign("POST", pairs))))
    response = httpx.post(f"{server.url}/?{urlencode(pairs)}")
    body = assert_error(response, "InvalidParameter", 400)
    assert "SignatureNonce is sent more than once" in body["Message"]


def test_replay_with_whitespace_is_refused_across_workers() -> None:
    """Two worker processes share one nonce store: neither admits a respelled replay."""
    world = Path(__file__).parent.parent / "worlds" / "rich.toml"
    with CamsServer(world=world, mode="process", workers=2) as srv:
        nonce = uuid.uuid4().hex
        headers = v3_signed(srv.endpoint, ROOT_ID, ROOT_SECRET, nonce=nonce)
        assert send(srv, raw_request(srv.endpoint, headers))[0] == 200
        for suffix in [" ", "\t", "  ", " \t"]:  # new connections: either worker answers
            replay = replace(headers, "x-acs-signature-nonce", nonce + suffix)
            status, response_headers, payload = send(srv, raw_request(srv.endpoint, replay))
            check_error(status, response_headers, payload, "SignatureNonceUsed", 400)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[CamsServer]:
    with CamsServer(world=STS_WORLD, tls=True) as srv:
        yield srv


def _tls_exchange(srv: CamsServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    assert srv.ca_file is not None
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    chunks: list[bytes] = []
    with (
        socket.create_connection(("127.0.0.1", srv.port), timeout=SOCKET_TIMEOUT) as plain,
        context.wrap_socket(plain, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(data)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = parse_response(b"".join(chunks))
    return response.status, response.headers, response.body


def test_assume_role_replay_with_whitespace_hands_out_nothing(tls_server: CamsServer) -> None:
    query = {
        "RoleArn": f"acs:ram::{ACME}:role/roi-operator",
        "RoleSessionName": "replayed",
    }
    nonce = uuid.uuid4().hex
    headers = v3_signed(
        tls_server.endpoint,
        IVAN_ID,
        IVAN_SECRET,
        nonce=nonce,
        action="AssumeRole",
        version="2015-04-01",
        query=query,
    )
    request = raw_request(tls_server.endpoint, headers, query=urlencode(query))
    status, _, payload = _tls_exchange(tls_server, request)
    assert status == 200 and b"SecurityToken" in payload, payload
    for suffix in [" ", "\t"]:
        replay = replace(headers, "x-acs-signature-nonce", nonce + suffix)
        data = raw_request(tls_server.endpoint, replay, query=urlencode(query))
        status, _, payload = _tls_exchange(tls_server, data)
        assert status == 400, payload
        assert json.loads(payload)["Code"] == "SignatureNonceUsed"
        assert b"SecurityToken" not in payload


# -- 4. the meaning of a call comes from what was signed -----------------------------------


def test_v1_action_comes_from_signed_parameters_not_headers(server: CamsServer) -> None:
    """A V1-signed read plus an unsigned `x-acs-action: EnableWhatsappROIMetric` header
    stays a read: headers are not covered by a V1 signature."""
    space = "cams-acme-cust-2"
    assert space not in enabled_spaces(server)
    params = raw.v1_params(
        ROOT_ID,
        ROOT_SECRET,
        {"CustSpaceId": space, "Start": "0", "End": "1000"},
        action="GetChatappPhoneNumberMetric",
    )
    response = httpx.post(
        f"{server.url}/?{urlencode(params)}",
        headers={"x-acs-action": "EnableWhatsappROIMetric", "x-acs-version": raw.VERSION},
    )
    assert response.json()["Code"] == "RoiMetric.NotEnabled", response.text
    assert space not in enabled_spaces(server)


@pytest.mark.parametrize("sent_as", ["text/plain", "application/json", None])
def test_v3_signed_body_under_unsigned_or_other_content_type_is_refused(
    server: CamsServer, sent_as: str | None
) -> None:
    """The signed body `CustSpaceId=does-not-exist` sent as text/plain used to be ignored,
    turning a refused call into an account-wide OK."""
    body = b"CustSpaceId=does-not-exist"
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, body=body)
    extra = {} if sent_as is None else {"content-type": sent_as}
    before = enabled_spaces(server)
    response = httpx.post(f"{server.url}/", headers={**headers, **extra}, content=body)
    assert_error(response, "InvalidParameter", 400)
    assert enabled_spaces(server) == before


def test_v3_form_body_with_unsigned_content_type_is_refused(server: CamsServer) -> None:
    body = b"CustSpaceId=cams-acme-main"
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, body=body)
    response = httpx.post(f"{server.url}/", headers={**headers, "content-type": FORM}, content=body)
    error = assert_error(response, "IncompleteSignature", 400)
    assert "content-type" in error["Message"]


def test_v3_form_body_with_signed_content_type_is_accepted(server: CamsServer) -> None:
    body = b"CustSpaceId=cams-acme-main"
    headers = sign_v3(
        ROOT_ID,
        ROOT_SECRET,
        {
            "host": server.endpoint,
            "content-type": FORM,
            "x-acs-action": raw.ACTION,
            "x-acs-version": raw.VERSION,
            "x-acs-date": raw.iso(),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": sha256_hex(body),
        },
        body=body,
    )
    response = httpx.post(f"{server.url}/", headers=headers, content=body)
    assert response.status_code == 200, response.text


def test_unsigned_x_acs_header_is_refused(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    response = httpx.post(f"{server.url}/", headers={**headers, "x-acs-anything": "1"})
    error = assert_error(response, "IncompleteSignature", 400)
    assert "x-acs-anything is sent but not signed" in error["Message"]


# -- 5. no body is read or parsed before the route is known --------------------------------


def _head_promising_a_body(server: CamsServer, path: str, extra: str = "") -> bytes:
    """A request head announcing 8 MiB of body that never comes: an answer proves the
    server decided without reading it."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {server.endpoint}\r\n{extra}"
        f"Content-Type: {FORM}\r\nContent-Length: {8 * 1024 * 1024}\r\n\r\n"
    ).encode()


def _first_answer(server: CamsServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                pytest.fail("the server waited for a body it should not read")
            if not chunk:
                break
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        length = int(dict(parse_response(head + b"\r\n\r\n").headers)["content-length"])
        while len(rest) < length:
            rest += sock.recv(65536)
    response = parse_response(head + b"\r\n\r\n" + rest)
    return response.status, response.headers, response.body


def test_unknown_path_is_answered_without_reading_the_body(server: CamsServer) -> None:
    status, headers, payload = _first_answer(server, _head_promising_a_body(server, "/nope"))
    check_error(status, headers, payload, "InvalidAction.NotFound", 404)


def test_admin_without_token_is_answered_without_reading_the_body(server: CamsServer) -> None:
    status, headers, payload = _first_answer(server, _head_promising_a_body(server, "/_cams/world"))
    check_error(status, headers, payload, "Admin.InvalidToken", 401)


def test_pages_are_answered_without_reading_the_body(server: CamsServer) -> None:
    status, headers, payload = _first_answer(server, _head_promising_a_body(server, "/docs/"))
    check_error(status, headers, payload, "InvalidAction.NotFound", 404)


def test_too_many_parameters_are_refused_before_parsing(server: CamsServer) -> None:
    query = "&".join(f"p{i}=1" for i in range(MAX_PARAMETERS + 1))
    response = httpx.post(f"{server.url}/?{query}")
    error = assert_error(response, "InvalidParameter", 400)
    assert f"more than {MAX_PARAMETERS} parameters" in error["Message"]


def test_huge_form_of_empty_pairs_is_refused_quickly(server: CamsServer) -> None:
    """`a&` x 30,000 (60 KB, under the body limit) is refused by counting, not parsed."""
    body = b"a&" * 30_000
    started = time.perf_counter()
    response = httpx.post(f"{server.url}/", content=body, headers={"content-type": FORM})
    assert_error(response, "InvalidParameter", 400)
    assert time.perf_counter() - started < 2.0
    assert_still_serving(server.endpoint)


def test_repeated_parameter_across_query_and_form_is_refused(server: CamsServer) -> None:
    response = httpx.post(
        f"{server.url}/?CustSpaceId=a", content=b"CustSpaceId=b", headers={"content-type": FORM}
    )
    error = assert_error(response, "InvalidParameter", 400)
    assert "CustSpaceId is sent more than once" in error["Message"]


# -- 8. a metric read never answers 500 ----------------------------------------------------


@pytest.mark.parametrize("action", ["GetChatappPhoneNumberMetric", "GetChatappTemplateMetric"])
@pytest.mark.parametrize("granularity", ["DAILY", "HALF_HOUR"])
@pytest.mark.parametrize("value", [INT64_MAX, "253402300800000"])
def test_read_with_out_of_range_times_is_invalid_parameter(
    server: CamsServer, action: str, granularity: str, value: str
) -> None:
    query = {
        "Start": value,
        "End": value,
        "Granularity": granularity,
        "CustSpaceId": "cams-acme-main",
        "TemplateCode": "welcome",
    }
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, query, action=action)
    response = httpx.post(f"{server.url}/?{urlencode(query)}", headers=headers)
    error = assert_error(response, "InvalidParameter", 400)
    assert "out of range: it is 0 to 253402300799999" in error["Message"]


def test_payload_hash_header_is_the_body_hash(server: CamsServer) -> None:
    """The signed x-acs-content-sha256 must be the hash of the bytes received."""
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    assert headers["x-acs-content-sha256"] == EMPTY_SHA256
    response = httpx.post(
        f"{server.url}/", headers={**headers, "content-type": FORM}, content=b"CustSpaceId=x"
    )
    assert_error(response, "IncompleteSignature", 400)


# -- 7. one key cannot fill the shared nonce store -----------------------------------------

QUOTA = QuotaLimits(per_key=40, per_account=60, window=60)


def test_throttled_calls_leave_no_nonce_behind(rich_world: Path) -> None:
    """A key without the permission flooding signed calls (throttled after 5) used to add
    a nonce per call; now only admitted calls keep one, and other tenants keep working."""
    clock = ManualClock()
    with CamsServer(world=rich_world, clock=clock) as srv:
        assert srv.state is not None
        key_id, secret = KEYS["rita"]  # read-only: every EnableWhatsappROIMetric is denied
        codes = [raw.v3_call(srv.endpoint, key_id, secret, {}).json()["Code"] for _ in range(80)]
        assert codes.count("Ram.PermissionDeny") == 5
        assert codes.count("System.LimitControl") == 75
        assert srv.state.guard.sizes()["nonces"] == 5
        globex_id, globex_secret = KEYS["globex-root"]
        assert raw.v3_call(srv.endpoint, globex_id, globex_secret, {}).status_code == 200


def test_a_throttled_nonce_is_accepted_once_later(rich_world: Path) -> None:
    clock = ManualClock()
    with CamsServer(world=rich_world, clock=clock) as srv:
        for _ in range(5):
            assert raw.v3_call(srv.endpoint, ROOT_ID, ROOT_SECRET, {}).status_code == 200
        nonce, date = uuid.uuid4().hex, raw.iso(clock.now())

        def again() -> str:
            response = raw.v3_call(srv.endpoint, ROOT_ID, ROOT_SECRET, {}, nonce=nonce, date=date)
            return str(response.json()["Code"])

        assert again() == "System.LimitControl"
        clock.advance(1.01)
        assert [again(), again()] == ["OK", "SignatureNonceUsed"]


@pytest.fixture(scope="module")
def quota_server(rich_world: Path) -> Iterator[CamsServer]:
    # A clock that stands still: the quota's minute must not roll over within a test.
    clock = ManualClock()
    with CamsServer(
        world=rich_world, clock=clock, tls=True, nonce_quota=QUOTA, admin_token="t"
    ) as srv:
        yield srv


def caller_identity(srv: CamsServer, who: str) -> httpx.Response:
    """GetCallerIdentity (STS, HTTPS only, no flow limit), V3-signed."""
    key_id, secret = KEYS[who]
    headers = raw.v3_headers(
        srv.endpoint, key_id, secret, {}, action="GetCallerIdentity", version="2015-04-01"
    )
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    return httpx.post(f"{srv.url}/", headers=headers, verify=context)


def test_a_key_flooding_an_operation_without_flow_limit_stops_at_its_quota(
    quota_server: CamsServer,
) -> None:
    assert quota_server.state is not None
    quota_server.reset()
    codes = [caller_identity(quota_server, "alice").status_code for _ in range(QUOTA.per_key + 10)]
    assert codes == [200] * QUOTA.per_key + [400] * 10
    refused = caller_identity(quota_server, "alice")
    assert refused.json()["Code"] == "Throttling.User"
    assert int(refused.headers["x-acs-retry-after"]) > 0
    assert quota_server.state.guard.sizes()["nonces"] == QUOTA.per_key
    assert caller_identity(quota_server, "gus").status_code == 200  # another tenant


def test_an_account_is_bounded_across_its_keys(quota_server: CamsServer) -> None:
    assert quota_server.state is not None
    quota_server.reset()
    for who in ["olga", "rita", "dave"]:  # three keys of one account, 30 calls each
        for _ in range(30):
            caller_identity(quota_server, who)
    assert quota_server.state.guard.sizes()["nonces"] == QUOTA.per_account
    assert caller_identity(quota_server, "nora").json()["Code"] == "Throttling.User"
    assert caller_identity(quota_server, "gus").status_code == 200
    # RAM users share the account's quota; its own (root) keys are not locked out by them.
    assert caller_identity(quota_server, "acme-root").status_code == 200


# -- a restart empties an in-memory nonce store: calls signed before it are refused ----------


def test_a_call_replayed_after_a_restart_is_refused(rich_world: Path, tmp_path: Path) -> None:
    """One process keeps its nonces in memory, which a restart (a crash, a kill -9)
    empties: a call signed before the server started might have been admitted by the
    process before, so it is refused rather than taken for new."""
    server = CamsServer(world=rich_world, mode="process", home=tmp_path)
    server.start()
    try:
        captured = raw_request(
            server.endpoint,
            v3_signed(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=uuid.uuid4().hex),
        )
        status, _, payload = send(server, captured)
        assert status == 200, payload
        server.kill()
        time.sleep(1.1)  # the new process starts in a later second than the call was signed
        server.start()  # a new port: the captured bytes keep their signed Host
        status, response_headers, payload = send(server, captured)
        body = check_error(status, response_headers, payload, "InvalidTimeStamp.Expired", 400)
        assert "before this server started" in body["Message"]
        fresh = v3_signed(server.endpoint, ROOT_ID, ROOT_SECRET, nonce=uuid.uuid4().hex)
        assert send(server, raw_request(server.endpoint, fresh))[0] == 200
    finally:
        server.stop()
