"""Authentication: who signed this request, checked the way Alibaba's gateway does.

Signature V3 (`Authorization: ACS3-HMAC-SHA256 ...`, verifying exactly the headers
it lists) and V1 (HMAC-SHA1 in `Signature`), plain AccessKeys or STS tokens. Order:
form of the credentials, timestamp format, the key, the signature, the timestamp
window. The nonce is checked after, by the pipeline's `CallGuard`, so a forged request
cannot burn someone's nonce.
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from cams_server.clock import Clock, utc_iso
from cams_server.ram.directory import KeyRecord
from cams_server.rpc.caller import Caller, NonceClaim
from cams_server.wire import errors
from cams_server.wire.request import FORM_CONTENT_TYPE, WireRequest, content_type
from cams_server.wire.signing import (
    EMPTY_SHA256,
    MAX_SKEW_SECONDS,
    V3_ALGORITHM,
    sha256_hex,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_string_to_sign,
)

__all__ = [
    "Authenticator",
    "CredentialResolver",
    "signature_version",
]

_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,6})?Z"
)
_AUTH_V3 = re.compile(
    r"ACS3-HMAC-SHA256 Credential=([!-+\--~]+),SignedHeaders=([!-+\--~]+),"
    r"Signature=([0-9a-f]{64})\Z"
)
_AUTH_PART = re.compile(r"^\s*(Credential|SignedHeaders|Signature)=([^,\s]*)\s*\Z")
_KNOWN_V3 = ("ACS3-HMAC-SM3", "ACS3-RSA-SHA256")
# Every header with this prefix that is sent must be signed (the SDKs sign them all):
# nonce, date, action, version, content hash, token and any other gateway input.
_ACS_PREFIX = "x-acs-"


def signature_version(request: WireRequest, params: Mapping[str, str]) -> str | None:
    """The signature scheme: "V3" (an Authorization header), "V1" (signature parameters),
    or None (unsigned).

    Decides where the call's meaning may come from: with V1 only the signed query and
    form parameters; with V3 the signed x-acs-* headers and query (an unsigned call
    is refused by `Authenticator.authenticate` anyway).
    """
    if request.header("authorization"):
        return "V3"
    if "Signature" in params or "AccessKeyId" in params:
        return "V1"
    return None


class CredentialResolver(Protocol):
    def resolve(self, access_key_id: str, security_token: str | None) -> KeyRecord:
        """The key's secret and principal; raises the gateway's errors for unknown,
        inactive or (for STS) invalid credentials."""
        ...


@functools.lru_cache(maxsize=256)  # every SDK call of one kind lists the same headers
def _signed_headers(
    listed: str,
) -> tuple[tuple[str, ...], frozenset[str]] | tuple[None, frozenset[str]]:
    """SignedHeaders as a list and a set; None if they are not lower-case names, sorted,
    separated by ';'."""
    signed = listed.split(";")
    if listed != listed.lower() or "" in signed or signed != sorted(signed):
        return None, frozenset()
    return tuple(signed), frozenset(signed)


@functools.lru_cache(maxsize=1024)  # calls of one second share their timestamp
def _parse_timestamp(name: str, value: str) -> float:
    match = _TIMESTAMP.fullmatch(value)
    if not match:
        raise errors.invalid_timestamp_format(name, value)
    y, mo, d, h, mi, s = (int(g) for g in match.groups()[:6])
    fraction = float(match.group(7) or 0)
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp() + fraction
    except ValueError:
        raise errors.invalid_timestamp_format(name, value) from None


class Authenticator:
    def __init__(self, credentials: Callable[[], CredentialResolver], clock: Clock) -> None:
        self._credentials = credentials
        self._clock = clock

    def authenticate(
        self, request: WireRequest, params: dict[str, str], version: str | None = None
    ) -> Caller:
        """The caller who signed `request`; `version` is `signature_version`'s answer
        when the caller already has it."""
        version = version or signature_version(request, params)
        if version == "V3":
            return self._v3(request, request.header("authorization") or "")
        if version == "V1":
            return self._v1(request, params)
        raise errors.incomplete_signature(
            "The request carries no signature: sign it with an AccessKey, either signature V3 "
            "(an Authorization: ACS3-HMAC-SHA256 header) or V1 (AccessKeyId, Signature, "
            "SignatureNonce, Timestamp parameters). The official SDKs do this for you."
        )

    # -- signature V3 -------------------------------------------------------------------

    def _v3(self, request: WireRequest, authorization: str) -> Caller:
        fast = _AUTH_V3.match(authorization)
        if fast is not None:  # the shape every SDK sends: skip the diagnosing parser
            key_id, listed, signature = fast.groups()
        else:
            fields = self._v3_fields(authorization)
            key_id, listed = fields["Credential"], fields["SignedHeaders"]
            signature = fields["Signature"].lower()
            if not signature.isascii():  # cannot match a hex signature
                signature = "-"
        return self._v3_verify(request, key_id, listed, signature)

    @staticmethod
    def _v3_fields(authorization: str) -> dict[str, str]:
        algorithm, _, rest = authorization.partition(" ")
        if algorithm != V3_ALGORITHM:
            if algorithm in _KNOWN_V3 or algorithm.startswith("ACS3-"):
                raise errors.invalid_signature_method(algorithm)
            raise errors.incomplete_signature(
                f"The Authorization header must start with {V3_ALGORITHM}, got {algorithm[:40]!r}."
            )
        fields: dict[str, str] = {}
        for part in rest.split(","):
            match = _AUTH_PART.match(part)
            if not match:
                raise errors.incomplete_signature(
                    "The Authorization header must be 'ACS3-HMAC-SHA256 Credential=<AccessKeyId>,"
                    "SignedHeaders=<names>,Signature=<hex>'."
                )
            fields[match.group(1)] = match.group(2)
        for required in ("Credential", "SignedHeaders", "Signature"):
            if not fields.get(required):
                raise errors.incomplete_signature(f"The Authorization header has no {required}.")
        return fields

    def _v3_verify(self, request: WireRequest, key_id: str, listed: str, signature: str) -> Caller:
        signed, signed_set = _signed_headers(listed)
        if signed is None:
            raise errors.incomplete_signature(
                "SignedHeaders must list lower-case header names, sorted, separated by ';'."
            )
        headers = request.headers
        if not signed_set.issuperset(headers):  # the rest (a few names) must not be x-acs-*
            for name in headers:
                if name not in signed_set and name.startswith(_ACS_PREFIX):
                    raise errors.incomplete_signature(f"The header {name} is sent but not signed.")
        date = request.header("x-acs-date")
        if not date:
            raise errors.incomplete_signature("Signature V3 needs the x-acs-date header.")
        nonce_value = request.header("x-acs-signature-nonce")
        if not nonce_value:
            raise errors.incomplete_signature(
                "Signature V3 needs the x-acs-signature-nonce header."
            )
        timestamp = _parse_timestamp("x-acs-date", date)
        body = request.body
        payload_hash = sha256_hex(body) if body else EMPTY_SHA256
        claimed = request.header("x-acs-content-sha256")
        if claimed is not None and claimed != payload_hash and claimed.lower() != payload_hash:
            raise errors.incomplete_signature(
                "x-acs-content-sha256 is not the hex SHA-256 of the request body: "
                "the body changed after signing."
            )
        if body:
            self._check_body_signed(request, signed)
        record = self._credentials().resolve(key_id, request.header("x-acs-security-token"))
        canonical = v3_canonical_request(
            request.method, request.path, request.query, headers, signed, payload_hash
        )
        string_to_sign = v3_string_to_sign(canonical)
        if not hmac.compare_digest(record.v3_signature(string_to_sign), signature):
            raise errors.signature_does_not_match(string_to_sign)
        nonce = self._claim("x-acs-date", date, timestamp, key_id, nonce_value)
        return Caller(record.principal, key_id, "V3", nonce, record.session_policy)

    @staticmethod
    def _check_body_signed(request: WireRequest, signed: tuple[str, ...]) -> None:
        """A body's parameters count only under a signed form content type.

        The payload hash covers the body's bytes, not whether the gateway parses them:
        an unsigned Content-Type could otherwise turn signed parameters into ignored
        bytes (a call without its CustSpaceId) or the other way round.
        """
        if content_type(request.headers) != FORM_CONTENT_TYPE:
            raise errors.invalid_parameter(
                "Content-Type",
                f"A request body carries parameters as {FORM_CONTENT_TYPE}; this body is "
                f"sent as {content_type(request.headers) or 'no content type'!r}. Send "
                "business parameters in the query string or a form body.",
            )
        if "content-type" not in signed:
            raise errors.incomplete_signature(
                "The request has a form body but its content-type header is not signed: "
                "list content-type in SignedHeaders."
            )

    # -- signature V1 -------------------------------------------------------------------

    def _v1(self, request: WireRequest, params: dict[str, str]) -> Caller:
        for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp"):
            if not params.get(name):
                raise errors.missing_parameter(name)
        method = params.get("SignatureMethod", "")
        if method != "HMAC-SHA1":
            raise errors.invalid_signature_method(method)
        version = params.get("SignatureVersion", "")
        if version != "1.0":
            raise errors.invalid_parameter(
                "SignatureVersion",
                f"Signature V1 uses SignatureVersion=1.0, got {version!r}.",
                code="InvalidSignatureVersion",
            )
        timestamp = _parse_timestamp("Timestamp", params["Timestamp"])
        key_id = params["AccessKeyId"]
        record = self._credentials().resolve(key_id, params.get("SecurityToken"))
        pairs = list(request.query) + list(request.form)
        string_to_sign = v1_string_to_sign(request.method, pairs)
        expected = v1_signature(record.secret, string_to_sign)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise errors.signature_does_not_match(string_to_sign)
        nonce = self._claim(
            "Timestamp", params["Timestamp"], timestamp, key_id, params["SignatureNonce"]
        )
        return Caller(record.principal, key_id, "V1", nonce, record.session_policy)

    # -- shared -------------------------------------------------------------------------

    def _claim(
        self, name: str, value: str, timestamp: float, key_id: str, nonce: str
    ) -> NonceClaim:
        """The nonce to remember, once the timestamp (`name`: `value`) is within the window
        of the server's clock: it is remembered while the request could be valid."""
        now = self._clock.now()
        skew = now - timestamp
        if abs(skew) > MAX_SKEW_SECONDS:
            raise errors.invalid_timestamp_expired(name, value, utc_iso(now), skew)
        if len(nonce) > 256:
            raise errors.invalid_parameter("SignatureNonce", "A nonce is at most 256 characters.")
        expires_at = max(timestamp, now) + MAX_SKEW_SECONDS
        return NonceClaim(key_id, nonce, expires_at, timestamp)
