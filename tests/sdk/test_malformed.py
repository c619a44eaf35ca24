"""Hostile and broken input: every malformed request gets a 4xx JSON error with a RequestId
(never a 5xx, never a hang), and the server keeps serving the official SDKs afterwards.

One server for the module, on a `ManualClock` moved 1.01 s before each test (a fresh
flow-control window); each test ends with one normal SDK call proving the server is alive.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from cams_server.wire.request import MAX_BODY_BYTES
from tests.sdk import raw
from tests.sdk.clients import KEYS
from tests.sdk.wire_asserts import (
    REQUEST_ID,
    RawResponse,
    assert_error,
    assert_still_serving,
    check_error,
    exchange,
    parse_response,
)

ROOT_ID, ROOT_SECRET = KEYS["acme-root"]
ACTION_QUERY = "Action=EnableWhatsappROIMetric&Version=2020-06-06"
FORM = {"content-type": "application/x-www-form-urlencoded"}


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


def _request(server: CamsServer, head: bytes, body: bytes = b"") -> RawResponse:
    """One raw HTTP/1.1 request (`head` is the request line plus any extra header lines)."""
    data = (
        head
        + b"\r\nHost: "
        + server.endpoint.encode()
        + b"\r\nConnection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    return parse_response(exchange(server.port, data))


def _check_raw_error(response: RawResponse, code: str, status: int, host: str) -> None:
    check_error(response.status, response.headers, response.body, code, status, host=host)


def _check_some_client_error(data: bytes) -> None:
    """The server answered an unparseable request with a 4xx JSON error and a RequestId."""
    assert data, "the server closed the connection without an answer"
    response = parse_response(data)
    assert 400 <= response.status < 500, data[:300]
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.body)
    for key in ("Code", "Message", "RequestId"):
        assert body.get(key), body
    assert REQUEST_ID.fullmatch(body["RequestId"])
    assert response.headers["x-acs-request-id"] == body["RequestId"]


# -- query string ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["Action=%ff%fe", f"{ACTION_QUERY}&CustSpaceId=%C3%28", "%ff=1", "Action=Enable%80"],
)
def test_invalid_percent_encoding_in_query(server: CamsServer, query: str) -> None:
    response = httpx.post(f"{server.url}/?{query}")
    body = assert_error(response, "InvalidParameter", 400)
    assert "query string" in body["Message"]
    assert_still_serving(server.endpoint)


def test_raw_non_utf8_bytes_in_query(server: CamsServer) -> None:
    response = _request(server, b"POST /?Action=\xff\xfe&Version=\xc3\x28 HTTP/1.1")
    # Refused by the HTTP parser (MalformedRequest) or by the gateway (InvalidParameter).
    assert response.status == 400
    body = json.loads(response.body)
    assert body["Code"] in ("MalformedRequest", "InvalidParameter"), body
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    assert_still_serving(server.endpoint)


def test_control_characters_in_business_parameter(server: CamsServer) -> None:
    response = raw.v1_call(server.endpoint, ROOT_ID, ROOT_SECRET, {"CustSpaceId": "a\x00b\x07"})
    body = assert_error(response, "InvalidParameter", 400)
    assert "CustSpaceId" in body["Message"]
    assert_still_serving(server.endpoint)


# -- bodies ---------------------------------------------------------------------------------


def test_garbage_binary_form_body(server: CamsServer) -> None:
    garbage = random.Random(1).randbytes(2048) + b"\xff\xfe"
    response = httpx.post(f"{server.url}/?{ACTION_QUERY}", content=garbage, headers=FORM)
    body = assert_error(response, "InvalidParameter", 400)
    assert "form body" in body["Message"]
    assert_still_serving(server.endpoint)


def test_form_body_with_bad_percent_escapes(server: CamsServer) -> None:
    response = httpx.post(
        f"{server.url}/?{ACTION_QUERY}", content=b"CustSpaceId=%ff%fe", headers=FORM
    )
    assert_error(response, "InvalidParameter", 400)
    assert_still_serving(server.endpoint)


def test_body_over_limit_with_content_length(server: CamsServer) -> None:
    response = httpx.post(f"{server.url}/?{ACTION_QUERY}", content=b"a" * (MAX_BODY_BYTES + 1))
    body = assert_error(response, "InvalidParameter.BodyTooLarge", 413)
    assert str(MAX_BODY_BYTES) in body["Message"]
    assert_still_serving(server.endpoint)


def test_body_over_limit_chunked(server: CamsServer) -> None:
    chunks = (b"a" * 1024 for _ in range(MAX_BODY_BYTES // 1024 + 2))
    response = httpx.post(f"{server.url}/?{ACTION_QUERY}", content=chunks)
    assert "content-length" not in response.request.headers  # really chunked
    assert_error(response, "InvalidParameter.BodyTooLarge", 413)
    assert_still_serving(server.endpoint)


def test_body_over_limit_form(server: CamsServer) -> None:
    body = b"CustSpaceId=" + b"a" * MAX_BODY_BYTES
    response = httpx.post(f"{server.url}/?{ACTION_QUERY}", content=body, headers=FORM)
    assert_error(response, "InvalidParameter.BodyTooLarge", 413)
    assert_still_serving(server.endpoint)


def test_body_at_limit_is_read(server: CamsServer) -> None:
    response = httpx.post(f"{server.url}/?{ACTION_QUERY}", content=b"a" * MAX_BODY_BYTES)
    assert_error(response, "IncompleteSignature", 400)  # read, then refused as unsigned


def test_random_binary_body_without_content_type(server: CamsServer) -> None:
    garbage = random.Random(2).randbytes(4096)
    response = httpx.post(f"{server.url}/?{ACTION_QUERY}", content=garbage)
    assert_error(response, "IncompleteSignature", 400)
    assert_still_serving(server.endpoint)


def test_signed_binary_body_without_form_content_type_is_refused(server: CamsServer) -> None:
    """A body is either a signed form or refused: never bytes the call silently ignores."""
    garbage = random.Random(3).randbytes(4096)
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {}, body=garbage)
    response = httpx.post(f"{server.url}/", headers=headers, content=garbage)
    body = assert_error(response, "InvalidParameter", 400)
    assert "Content-Type" in body["Message"]
    assert_still_serving(server.endpoint)


# -- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [b"X-Binary: \xff\xfe\x80", b"x-acs-date: 2026-01-01T00:00:00\xffZ", b"User-Agent: caf\xe9"],
)
def test_non_utf8_header_value(server: CamsServer, header: bytes) -> None:
    response = _request(server, b"POST /?" + ACTION_QUERY.encode() + b" HTTP/1.1\r\n" + header)
    _check_raw_error(response, "InvalidParameter", 400, server.endpoint)
    assert "header" in json.loads(response.body)["Message"].lower()
    assert_still_serving(server.endpoint)


def test_non_utf8_header_value_with_signature(server: CamsServer) -> None:
    headers = raw.v3_headers(server.endpoint, ROOT_ID, ROOT_SECRET, {})
    lines = b"".join(f"\r\n{k}: {v}".encode() for k, v in headers.items() if k != "host")
    response = _request(server, b"POST / HTTP/1.1" + lines + b"\r\nX-Extra: \xc0\xaf")
    _check_raw_error(response, "InvalidParameter", 400, server.endpoint)
    assert_still_serving(server.endpoint)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nA header line without a colon\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Huge: "
        + b"v" * (2 * 1024 * 1024)
        + b"\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Many: y\r\n" * 20000 + b"Connection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n"
        b"Connection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n0\r\n\r\n",
    ],
    ids=[
        "no-colon",
        "space-in-name",
        "nul",
        "2MiB-value",
        "20000-headers",
        "bad-length",
        "huge-length",
        "length-and-chunked",
    ],
)
def test_absurd_header_lines(server: CamsServer, data: bytes) -> None:
    _check_some_client_error(exchange(server.port, data))
    assert_still_serving(server.endpoint)


# -- not HTTP at all, and nothing at all ----------------------------------------------------

TLS_CLIENT_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + b"\x00" * 130


@pytest.mark.parametrize(
    "data",
    [
        TLS_CLIENT_HELLO,
        random.Random(0).randbytes(4096),
        b"\x00" * 1024,
        b"HELLO WORLD\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
    ids=["tls", "random", "nul", "hello", "bare-get", "http-9.9", "ssh"],
)
def test_not_http(server: CamsServer, data: bytes) -> None:
    _check_some_client_error(exchange(server.port, data, half_close=True))
    assert_still_serving(server.endpoint)


def test_connection_closed_without_a_byte(server: CamsServer) -> None:
    assert exchange(server.port, b"", half_close=True) == b""
    assert_still_serving(server.endpoint)


def test_empty_http_request(server: CamsServer) -> None:
    for method in ("GET", "POST"):
        response = httpx.request(method, f"{server.url}/")
        body = assert_error(response, "InvalidAction.NotFound", 404)
        assert "x-acs-action" in body["Message"]
    assert_still_serving(server.endpoint)


def test_empty_raw_request_line(server: CamsServer) -> None:
    response = _request(server, b"GET / HTTP/1.1")
    _check_raw_error(response, "InvalidAction.NotFound", 404, server.endpoint)


def test_malformed_request_error_has_full_shape(server: CamsServer) -> None:
    response = parse_response(exchange(server.port, b"HELLO WORLD\r\n\r\n"))
    check_error(response.status, response.headers, response.body, "MalformedRequest", 400)
