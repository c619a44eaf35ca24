"""Hand-made requests for what no SDK sends: tampered, stale, replayed or malformed calls.

Signing reuses `cams_server.wire.signing`; the fixed vectors in
tests/gateway/test_signing.py pin that module to the SDKs' own output.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from cams_server.wire.signing import (
    EMPTY_SHA256,
    sha256_hex,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

ACTION = "EnableWhatsappROIMetric"
VERSION = "2020-06-06"


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def v3_headers(
    endpoint: str,
    key_id: str,
    secret: str,
    query: dict[str, str],
    *,
    method: str = "POST",
    action: str = ACTION,
    version: str = VERSION,
    date: str | None = None,
    nonce: str | None = None,
    body: bytes = b"",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a V3-signed request (all headers signed, as the Python SDK does)."""
    headers = {
        "host": endpoint,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or iso(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": sha256_hex(body) if body else EMPTY_SHA256,
        **(extra or {}),
    }
    signed = sorted(headers)
    canonical = v3_canonical_request(
        method,
        "/",
        list(query.items()),
        {k: [v] for k, v in headers.items()},
        signed,
        headers["x-acs-content-sha256"],
    )
    signature = v3_signature(secret, v3_string_to_sign(canonical))
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={key_id},"
        f"SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return headers


def v3_call(
    endpoint: str,
    key_id: str,
    secret: str,
    query: dict[str, str] | None = None,
    *,
    method: str = "POST",
    **kwargs: object,
) -> httpx.Response:
    query = query or {}
    headers = v3_headers(endpoint, key_id, secret, query, method=method, **kwargs)  # type: ignore[arg-type]
    body = kwargs.get("body", b"")
    url = f"http://{endpoint}/" + (f"?{urlencode(query)}" if query else "")
    return httpx.request(method, url, headers=headers, content=body)  # type: ignore[arg-type]


def v1_params(
    key_id: str,
    secret: str,
    params: dict[str, str],
    *,
    method: str = "POST",
    timestamp: str | None = None,
    nonce: str | None = None,
    action: str = ACTION,
    version: str = VERSION,
) -> dict[str, str]:
    """Query parameters of a V1-signed call (what the legacy SDK sends)."""
    all_params = {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or iso(),
        **params,
    }
    all_params["Signature"] = v1_signature(secret, v1_string_to_sign(method, all_params.items()))
    return all_params


def v1_call(
    endpoint: str,
    key_id: str,
    secret: str,
    params: dict[str, str] | None = None,
    *,
    method: str = "POST",
    **kwargs: str,
) -> httpx.Response:
    query = v1_params(key_id, secret, params or {}, method=method, **kwargs)
    return httpx.request(method, f"http://{endpoint}/?{urlencode(query)}")
