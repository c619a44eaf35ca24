"""Checks shared by the gateway tests: the error-body shape, raw sockets, custom V3 signing.

Every error the gateway answers must be a JSON body with `Code`, `Message`, `RequestId`,
`HostId` and `Recommend`, the header `x-acs-request-id` equal to the body's `RequestId`,
and a 4xx status for a client's mistake (never 5xx). `assert_error` (httpx responses),
`check_error` (raw status/headers/body), `assert_sdk_error` (V2 SDK exceptions) and
`assert_legacy_error` (legacy SDK exceptions) all check that one shape.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException

from cams_server.wire.signing import (
    V3_ALGORITHM,
    sha256_hex,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)
from tests.sdk.clients import enable, v3_client

# The answer of EnableWhatsappROIMetric (the seed's response example), spelled once for
# every test; the server's own spelling (wire/encoding.py `Ok`) is what it is checked against.
OK_ANSWER = {"Code": "OK", "Message": "None", "AccessDeniedDetail": "NONE"}
REQUEST_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
ERROR_KEYS = ("Code", "Message", "RequestId", "HostId", "Recommend")
SOCKET_TIMEOUT = 5.0


def check_error_body(
    body: Mapping[str, Any],
    code: str | None,
    *,
    host: str | None = None,
) -> None:
    """The body of a gateway error (JSON already decoded)."""
    for key in ERROR_KEYS:
        assert key in body, f"error body lacks {key}: {body}"
    if code is not None:
        assert body["Code"] == code, body
    assert isinstance(body["Message"], str) and body["Message"], body
    assert REQUEST_ID.fullmatch(body["RequestId"]), body
    if host is not None:
        assert body["HostId"] == host, body
    # This server's own page on the code (Alibaba's troubleshooter knows no local id).
    page = f"/docs/errors?Code={body['Code']}&RequestId={body['RequestId']}"
    assert body["Recommend"].endswith(page), body
    origin = body["Recommend"].removesuffix(page)
    hosted = (f"http://{body['HostId']}", f"https://{body['HostId']}")
    assert origin in (hosted if body["HostId"] else ("",)), body


def check_error(
    status: int,
    headers: Mapping[str, str],
    payload: bytes,
    code: str | None,
    expected_status: int,
    *,
    host: str | None = None,
) -> dict[str, Any]:
    """A whole error response: 4xx status, JSON content type, body shape, request-id header."""
    assert 400 <= expected_status < 500, "client mistakes are 4xx"
    assert status == expected_status, (status, payload[:500])
    assert headers["content-type"].startswith("application/json"), headers
    body: dict[str, Any] = json.loads(payload)
    check_error_body(body, code, host=host)
    assert headers["x-acs-request-id"] == body["RequestId"]
    return body


def assert_error(response: httpx.Response, code: str | None, status: int = 400) -> dict[str, Any]:
    """An httpx response is the gateway error `code` with HTTP `status`; returns the body."""
    return check_error(
        response.status_code,
        response.headers,
        response.content,
        code,
        status,
        host=response.request.headers.get("host"),
    )


def assert_sdk_error(exc: AlibabaCloudException, code: str, status: int = 400) -> dict[str, Any]:
    """A V2 SDK exception carries the gateway error (the SDK copies the body into `data`)."""
    assert exc.code == code, (exc.code, exc.data)
    assert exc.status_code == status, (exc.status_code, exc.data)
    body: dict[str, Any] = {k: v for k, v in exc.data.items() if k != "statusCode"}
    check_error_body(body, code)
    assert exc.request_id == body["RequestId"]
    return body


def assert_legacy_error(exc: LegacyServerException, code: str, status: int = 400) -> None:
    """A legacy SDK `ServerException` carries the gateway error."""
    assert exc.get_error_code() == code, (exc.get_error_code(), exc.get_error_msg())
    assert exc.get_http_status() == status
    assert REQUEST_ID.fullmatch(exc.get_request_id() or ""), exc.get_request_id()


def assert_ok_body(body: Mapping[str, Any]) -> None:
    """A decoded body is the OK answer, with a RequestId."""
    assert {k: body.get(k) for k in OK_ANSWER} == OK_ANSWER, body
    assert isinstance(body["RequestId"], str) and REQUEST_ID.fullmatch(body["RequestId"]), body


def fails(
    action: Callable[[], object], code: str, documented: Mapping[str, str] | None = None
) -> AlibabaCloudException:
    """Run an official-SDK call that must fail with `code` (400), its message starting
    with the documented one when `documented` has it; return the SDK's exception."""
    with pytest.raises(AlibabaCloudException) as info:
        action()
    error = info.value
    assert error.code == code, error.data
    assert error.status_code == 400, error.data
    assert error.data["Code"] == code
    if documented and code in documented:
        assert error.data["Message"].startswith(documented[code]), error.data["Message"]
    assert error.request_id and error.request_id == error.data["RequestId"]
    return error


def assert_still_serving(endpoint: str) -> None:
    """A normal official-SDK call still succeeds (one successful call for acme)."""
    body = enable(v3_client(endpoint, "acme-root"))
    assert body["Code"] == "OK"


# -- raw sockets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it.

    Fails the test (rather than hanging) if the server neither answers nor closes
    within `SOCKET_TIMEOUT` seconds.
    """
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        try:
            if data:
                sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"the server neither answered nor closed within {SOCKET_TIMEOUT} s")
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), lines[0]
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status, headers, body)


# -- custom V3 signing ---------------------------------------------------------------------


def sign_v3(
    key_id: str,
    secret: str,
    headers: Mapping[str, str],
    *,
    signed: list[str] | None = None,
    query: Mapping[str, str] | None = None,
    method: str = "POST",
    body: bytes = b"",
    algorithm: str = V3_ALGORITHM,
) -> dict[str, str]:
    """`headers` plus a valid V3 Authorization over exactly `signed` (default: all of them)."""
    lowered = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
    names = sorted(signed if signed is not None else lowered)
    canonical = v3_canonical_request(
        method,
        "/",
        list((query or {}).items()),
        {k: [v] for k, v in lowered.items()},
        names,
        sha256_hex(body),
    )
    signature = v3_signature(secret, v3_string_to_sign(canonical))
    return {
        **lowered,
        "Authorization": (
            f"{algorithm} Credential={key_id},SignedHeaders={';'.join(names)},Signature={signature}"
        ),
    }
