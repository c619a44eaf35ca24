"""Alibaba Cloud request signatures, V3 (ACS3-HMAC-SHA256) and V1 (HMAC-SHA1).

The same functions verify on the server and sign in tests and benchmarks, so the
two sides cannot drift apart. Byte-for-byte what the official SDKs compute:
`alibabacloud_tea_openapi.utils` (V3, and V1 in `signature_algorithm='v2'` mode)
and `aliyunsdkcore.auth.composer.rpc_signature_composer` (legacy V1).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.hmac import HMAC

__all__ = [
    "EMPTY_SHA256",
    "MAX_SKEW_SECONDS",
    "V3_ALGORITHM",
    "V3Key",
    "percent_encode",
    "sha256_hex",
    "v1_signature",
    "v1_string_to_sign",
    "v3_canonical_request",
    "v3_signature",
    "v3_string_to_sign",
]

V3_ALGORITHM = "ACS3-HMAC-SHA256"
# How far a signed timestamp may be from the server's clock, either way (both versions).
MAX_SKEW_SECONDS = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: everything but `A-Za-z0-9-_.~` is %XX (UTF-8)."""
    if _UNRESERVED.fullmatch(value) is not None:  # most names and values: nothing to encode
        return value
    # Parameter names and most values repeat from call to call: short ones are cached.
    return _encode_short(value) if len(value) <= 64 else quote(value, safe="~")


@functools.lru_cache(maxsize=8192)
def _encode_short(value: str) -> str:
    return quote(value, safe="~")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_query(params: Collection[tuple[str, str]]) -> str:
    encode = percent_encode
    # Most calls of this API carry one parameter: nothing to sort.
    ordered = params if len(params) == 1 else sorted(params, key=_name)
    return "&".join([f"{encode(k)}={encode(v)}" for k, v in ordered])


def _name(pair: tuple[str, str]) -> str:
    return pair[0]


def v3_canonical_request(
    method: str,
    path: str,
    query: Collection[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The V3 canonical request over exactly `signed_headers` (lower-case names).

    `headers` maps lower-case names to every value received; repeated values are
    sorted and joined with ',', as the SDKs do.
    """
    lines = []
    for name in signed_headers:
        values = headers.get(name, ())
        if len(values) == 1:
            lines.append(f"{name}:{values[0].strip()}")
        else:
            lines.append(f"{name}:{','.join(sorted(v.strip() for v in values))}")
    lines.append("")
    canonical_headers = "\n".join(lines)
    return (
        f"{method}\n{path}\n{_canonical_query(query)}\n"
        f"{canonical_headers}\n{';'.join(signed_headers)}\n{payload_hash}"
    )


def v3_string_to_sign(canonical_request: str, algorithm: str = V3_ALGORITHM) -> str:
    return f"{algorithm}\n{sha256_hex(canonical_request.encode('utf-8'))}"


class V3Key:
    """An AccessKey secret made ready for V3 signatures: its HMAC-SHA256 key state is
    computed once, and each signature copies it.

    The server verifies every call with the caller's key: `hmac.new` per call set the
    key up again and went through the `hmac` module's Python wrapper (about 4% of a
    call's instructions, bench/README.md); `cryptography`'s HMAC copies a prepared
    state in native code. It holds what the secret does (no repr shows it), in about
    800 bytes.
    """

    __slots__ = ("_prepared",)

    def __init__(self, secret: str) -> None:
        self._prepared = HMAC(secret.encode("utf-8"), SHA256())

    def __repr__(self) -> str:
        return "V3Key(...)"

    def sign(self, string_to_sign: str) -> str:
        """The hex HMAC-SHA256 of `string_to_sign` (see `v3_string_to_sign`)."""
        return _hex_mac(self._prepared.copy(), string_to_sign)


def v3_signature(secret: str, string_to_sign: str) -> str:
    """The V3 signature of `string_to_sign` with `secret`, once (a client, an STS
    session's key); a key that verifies many calls is a `V3Key`."""
    return _hex_mac(HMAC(secret.encode("utf-8"), SHA256()), string_to_sign)


def _hex_mac(mac: HMAC, string_to_sign: str) -> str:
    mac.update(string_to_sign.encode("utf-8"))
    return mac.finalize().hex()


def v1_string_to_sign(method: str, params: Iterable[tuple[str, str]]) -> str:
    """`METHOD&%2F&` + encode(sorted, encoded `k=v` pairs), without `Signature`."""
    pairs = [(k, v) for k, v in params if k != "Signature"]
    return f"{method}&%2F&{percent_encode(_canonical_query(pairs))}"


def v1_signature(secret: str, string_to_sign: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
