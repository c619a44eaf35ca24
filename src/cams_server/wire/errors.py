"""One error type for the wire, and one definition per gateway error code.

Every failure a caller can see is a `ServiceError`; the encoder turns it into the
Alibaba error body. Documented messages come first, verbatim, so clients that match
on them keep working; a sentence after it says what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ServiceError",
    "incomplete_body",
    "incomplete_signature",
    "internal_error",
    "invalid_access_key_inactive",
    "invalid_access_key_not_found",
    "invalid_action",
    "invalid_parameter",
    "invalid_security_token",
    "invalid_signature_method",
    "invalid_timestamp_expired",
    "invalid_timestamp_format",
    "invalid_version",
    "missing_parameter",
    "need_ssl",
    "request_too_large",
    "service_unavailable",
    "signature_does_not_match",
    "signature_nonce_used",
    "signed_before_start",
    "throttling_user",
    "unsupported_http_method",
]


@dataclass(frozen=True, slots=True)
class ServiceError(Exception):
    """An error answered on the wire: Alibaba code, HTTP status and message.

    `access_denied_detail` is the object RAM attaches to permission errors;
    `headers` are extra response headers (for example `x-acs-retry-after`).
    """

    code: str
    status: int
    message: str
    access_denied_detail: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} ({self.status}): {self.message}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_hint(documented: str, hint: str | None) -> str:
    return documented if not hint else f"{documented} {hint}"


def signature_does_not_match(string_to_sign: str) -> ServiceError:
    # Exactly this shape: the legacy Python SDK splits the message on ':' and
    # compares part [1] with its own string to sign to detect a wrong secret.
    return ServiceError(
        "SignatureDoesNotMatch",
        400,
        "Specified signature is not matched with our calculation. "
        f"server string to sign is:{string_to_sign}",
    )


def incomplete_signature(hint: str | None = None) -> ServiceError:
    return ServiceError(
        "IncompleteSignature",
        400,
        _with_hint("The request signature does not conform to Aliyun standards.", hint),
    )


def invalid_access_key_not_found(access_key_id: str) -> ServiceError:
    return ServiceError(
        "InvalidAccessKeyId.NotFound",
        404,
        _with_hint(
            "Specified access key is not found.",
            f"No AccessKey with id {access_key_id!r} exists here: check for typos or stray "
            "whitespace, and that the world file declaring it was applied.",
        ),
    )


def invalid_access_key_inactive(access_key_id: str) -> ServiceError:
    return ServiceError(
        "InvalidAccessKeyId.Inactive",
        400,
        _with_hint(
            "Specified access key is disabled.",
            f"AccessKey {access_key_id!r} has status Inactive: activate it or use another key.",
        ),
    )


def invalid_timestamp_format(name: str, value: str) -> ServiceError:
    return ServiceError(
        "InvalidTimeStamp.Format",
        400,
        _with_hint(
            "Specified time stamp or date value is not well formatted.",
            f"{name} is {value!r}; expected UTC ISO 8601 like 2026-01-02T03:04:05Z.",
        ),
    )


def invalid_timestamp_expired(name: str, value: str, server_time: str, skew: float) -> ServiceError:
    direction = "behind" if skew > 0 else "ahead of"
    return ServiceError(
        "InvalidTimeStamp.Expired",
        400,
        _with_hint(
            "Specified time stamp or date value is expired.",
            f"{name} {value} is {abs(skew):.0f} s {direction} the server time {server_time}; "
            "requests are accepted within 15 minutes either way: check the client's clock.",
        ),
    )


def signed_before_start(signed_at: float, started_at: float) -> ServiceError:
    return ServiceError(
        "InvalidTimeStamp.Expired",
        400,
        _with_hint(
            "Specified time stamp or date value is expired.",
            f"The call was signed at {_iso(signed_at)}, before this server started at "
            f"{_iso(started_at)}; it keeps nonces in memory, so it cannot tell such a call "
            "from a replay. Sign the call again (and check the client's clock if it runs "
            "behind).",
        ),
    )


def signature_nonce_used(nonce: str) -> ServiceError:
    return ServiceError(
        "SignatureNonceUsed",
        400,
        _with_hint(
            "Specified signature nonce was used already.",
            f"Nonce {nonce!r} was already seen within the last 15 minutes: "
            "send a fresh random nonce with every request.",
        ),
    )


def invalid_signature_method(method: str) -> ServiceError:
    return ServiceError(
        "InvalidSignatureMethod",
        400,
        _with_hint(
            "Specified signature method is not valid.",
            f"{method!r} is not supported here: use ACS3-HMAC-SHA256 (V3) or HMAC-SHA1 (V1).",
        ),
    )


def missing_parameter(name: str) -> ServiceError:
    return ServiceError(f"Missing{name}", 400, f"{name} is mandatory for this action.")


def invalid_parameter(name: str, hint: str | None = None, code: str | None = None) -> ServiceError:
    return ServiceError(
        code or "InvalidParameter",
        400,
        _with_hint(f"Specified parameter {name} is not valid.", hint),
    )


def invalid_action(hint: str | None = None) -> ServiceError:
    return ServiceError(
        "InvalidAction.NotFound",
        404,
        _with_hint("Specified api is not found, please check your url and method.", hint),
    )


def unsupported_http_method(method: str) -> ServiceError:
    return ServiceError(
        "InvalidAction.NotFound",
        404,
        _with_hint(
            "Specified api is not found, please check your url and method.",
            f"HTTP method {method} is not supported: call / with GET or POST.",
        ),
    )


def invalid_version(version: str, action: str, expected: str) -> ServiceError:
    return ServiceError(
        "InvalidVersion",
        400,
        _with_hint(
            "Specified parameter Version is not valid.",
            f"{action} is served at version {expected}, not {version!r}.",
        ),
    )


def need_ssl(action: str) -> ServiceError:
    return ServiceError(
        "InvalidProtocol.NeedSsl",
        400,
        _with_hint(
            "Your request is denied as lack of ssl protect.",
            f"{action} is served over HTTPS only: use protocol https (serve --tls ...).",
        ),
    )


def invalid_security_token(kind: str, hint: str) -> ServiceError:
    return ServiceError(f"InvalidSecurityToken.{kind}", 400, hint)


def request_too_large(limit: int) -> ServiceError:
    return ServiceError(
        "InvalidParameter.BodyTooLarge",
        413,
        f"The request body is larger than {limit} bytes: send business parameters in the "
        "query string or a small form body.",
    )


def incomplete_body() -> ServiceError:
    return ServiceError(
        "InvalidParameter.IncompleteBody",
        400,
        "The connection closed before the whole request body arrived: nothing was done.",
    )


def throttling_user(hint: str, headers: Mapping[str, str]) -> ServiceError:
    return ServiceError(
        "Throttling.User",
        400,
        _with_hint("Request was denied due to user flow control.", hint),
        headers=headers,
    )


def service_unavailable(hint: str | None = None) -> ServiceError:
    return ServiceError(
        "ServiceUnavailable",
        503,
        _with_hint("The request has failed due to a temporary failure of the server.", hint),
    )


def internal_error() -> ServiceError:
    return ServiceError(
        "InternalError",
        500,
        "The request processing has failed due to some unknown error.",
    )
