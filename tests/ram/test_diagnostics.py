"""AccessDeniedDetail and its sealed EncodedDiagnosticMessage."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cams_server.ram.diagnostics import DiagnosticCodec, access_denied_detail
from cams_server.ram.evaluation import PolicyDecision
from cams_server.ram.principals import Principal, PrincipalKind

DIAGNOSTIC: dict[str, Any] = {
    "RequestId": "90E63D28-E31D-1EB2-8939-A9486641AAAA",
    "Principal": {
        "Arn": "acs:ram::1000000000000001:user/alice",
        "Type": "SubUser",
        "AccountId": "1000000000000001",
    },
    "Action": "cams:EnableWhatsappROIMetric",
    "Resource": "acs:cams:ap-southeast-1:1000000000000001:*",
    "Context": {"acs:SourceIp": "192.168.1.10", "acs:SecureTransport": "false"},
    "NoPermissionType": "ExplicitDeny",
    "EvaluatedPolicies": ["RoiOnlySecretName", "DenyRoiSecretName"],
    "AllowingPolicies": ["RoiOnlySecretName"],
    "DenyingPolicies": ["DenyRoiSecretName"],
    "Unicode": "空间 ✓",
}


@pytest.fixture
def codec() -> DiagnosticCodec:
    return DiagnosticCodec(DiagnosticCodec.new_key())


def test_round_trip(codec: DiagnosticCodec) -> None:
    encoded = codec.encode(DIAGNOSTIC)
    assert isinstance(encoded, str)
    assert codec.decode(encoded) == DIAGNOSTIC


def test_round_trip_tolerates_surrounding_whitespace(codec: DiagnosticCodec) -> None:
    assert codec.decode(f"  {codec.encode(DIAGNOSTIC)}\n") == DIAGNOSTIC


def test_round_trip_with_a_fixed_key() -> None:
    key = bytes(range(32))
    encoded = DiagnosticCodec(key).encode(DIAGNOSTIC)
    assert DiagnosticCodec(key).decode(encoded) == DIAGNOSTIC


def test_new_key_is_random_256_bit() -> None:
    first, second = DiagnosticCodec.new_key(), DiagnosticCodec.new_key()
    assert len(first) == 32
    assert first != second


def test_output_is_opaque(codec: DiagnosticCodec) -> None:
    encoded = codec.encode(DIAGNOSTIC)
    for secret in ("RoiOnlySecretName", "DenyRoiSecretName", "alice", "192.168.1.10", "cams:"):
        assert secret not in encoded
        assert secret.lower() not in encoded.lower()
    # Not merely base64 of the plaintext either.
    body = encoded[2:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert b"RoiOnlySecretName" not in raw
    assert b"alice" not in raw


def test_output_is_url_safe_text(codec: DiagnosticCodec) -> None:
    encoded = codec.encode(DIAGNOSTIC)
    assert encoded.isascii()
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_each_encoding_differs(codec: DiagnosticCodec) -> None:
    # A fresh nonce per message: two denials of the same call do not look alike.
    assert codec.encode(DIAGNOSTIC) != codec.encode(DIAGNOSTIC)


def test_another_key_cannot_decode(codec: DiagnosticCodec) -> None:
    encoded = codec.encode(DIAGNOSTIC)
    other = DiagnosticCodec(DiagnosticCodec.new_key())
    with pytest.raises(ValueError, match="another deployment"):
        other.decode(encoded)


@pytest.mark.parametrize("position", [2, 10, 20, -10])
def test_tampered_message_is_refused(codec: DiagnosticCodec, position: int) -> None:
    encoded = codec.encode(DIAGNOSTIC)
    chars = list(encoded)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(ValueError):
        codec.decode("".join(chars))


@pytest.mark.parametrize(
    "message",
    [
        "",
        "AQ",
        "AQAAAA",
        "not a message",
        "XX" + "A" * 60,
        "AQ" + "A" * 61,  # impossible base64 length
    ],
)
def test_garbage_is_refused(codec: DiagnosticCodec, message: str) -> None:
    with pytest.raises(ValueError):
        codec.decode(message)


def test_truncated_message_is_refused(codec: DiagnosticCodec) -> None:
    encoded = codec.encode(DIAGNOSTIC)
    with pytest.raises(ValueError):
        codec.decode(encoded[:-4])


def test_message_for_one_deployment_is_bound_to_its_content(codec: DiagnosticCodec) -> None:
    a = codec.encode({"Action": "cams:A"})
    b = codec.encode({"Action": "cams:B"})
    # Splicing one message's nonce onto another's ciphertext does not decode.
    with pytest.raises(ValueError):
        codec.decode(a[:18] + b[18:])


# --------------------------------------------------------------------------------------
# access_denied_detail
# --------------------------------------------------------------------------------------

FIELDS = {
    "PolicyType",
    "AuthPrincipalOwnerId",
    "AuthPrincipalType",
    "AuthPrincipalDisplayName",
    "NoPermissionType",
    "AuthAction",
    "EncodedDiagnosticMessage",
}


def _decision(explicit: bool) -> PolicyDecision:
    return PolicyDecision(
        allowed=False,
        explicit_deny=explicit,
        allowing=(),
        denying=("DenyRoi",) if explicit else (),
        evaluated=("DenyRoi",),
    )


def test_detail_for_a_ram_user() -> None:
    user = Principal("1000000000000001", PrincipalKind.USER, "alice")
    detail = access_denied_detail(user, "cams:EnableWhatsappROIMetric", _decision(False), "AQxyz")
    assert set(detail) == FIELDS
    assert len(detail) == 7
    assert detail == {
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "AuthPrincipalOwnerId": "1000000000000001",
        "AuthPrincipalType": "SubUser",
        "AuthPrincipalDisplayName": "alice",
        "NoPermissionType": "ImplicitDeny",
        "AuthAction": "cams:EnableWhatsappROIMetric",
        "EncodedDiagnosticMessage": "AQxyz",
    }
    assert all(isinstance(v, str) for v in detail.values())


def test_detail_for_an_assumed_role_explicitly_denied() -> None:
    session = Principal("1000000000000001", PrincipalKind.ASSUMED_ROLE, "roi-operator", "ci-42")
    detail = access_denied_detail(
        session, "cams:EnableWhatsappROIMetric", _decision(True), "AQabc", "IsvAuthorization"
    )
    assert set(detail) == FIELDS
    assert detail["PolicyType"] == "IsvAuthorization"
    assert detail["AuthPrincipalType"] == "AssumedRoleUser"
    assert detail["AuthPrincipalDisplayName"] == "roi-operator:ci-42"
    assert detail["NoPermissionType"] == "ExplicitDeny"


def test_detail_carries_a_decodable_message(codec: DiagnosticCodec) -> None:
    user = Principal("1000000000000001", PrincipalKind.USER, "alice")
    encoded = codec.encode(DIAGNOSTIC)
    detail = access_denied_detail(user, "cams:EnableWhatsappROIMetric", _decision(True), encoded)
    assert codec.decode(detail["EncodedDiagnosticMessage"]) == DIAGNOSTIC
    json.dumps(detail)  # serialisable as it stands
