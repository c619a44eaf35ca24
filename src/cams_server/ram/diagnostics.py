"""`AccessDeniedDetail` and its opaque `EncodedDiagnosticMessage`.

The encoded message is the evaluation's full story (principal, action, resource,
context, matched policies) sealed with AES-GCM under the deployment's key: opaque to
the caller, readable by whoever operates the server.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cams_server.ram.evaluation import PolicyDecision
from cams_server.ram.principals import Principal

__all__ = ["DiagnosticCodec", "access_denied_detail"]

_PREFIX = "AQ"


class DiagnosticCodec:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @staticmethod
    def new_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def encode(self, diagnostic: Mapping[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(diagnostic, sort_keys=True).encode(), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decode(self, message: str) -> dict[str, Any]:
        """The diagnostic inside `message`; ValueError if it is not one of ours."""
        text = message.strip()
        if not text.startswith(_PREFIX):
            raise ValueError("not an EncodedDiagnosticMessage issued by this deployment")
        body = text[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], None)
        except (ValueError, InvalidTag):
            raise ValueError(
                "the message is corrupt or was issued by another deployment (different key)"
            ) from None
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


def access_denied_detail(
    principal: Principal,
    action: str,
    decision: PolicyDecision,
    encoded: str,
    policy_type: str = "AccountLevelIdentityBasedPolicy",
) -> dict[str, str]:
    return {
        "PolicyType": policy_type,
        "AuthPrincipalOwnerId": principal.account_id,
        "AuthPrincipalType": str(principal.kind),
        "AuthPrincipalDisplayName": principal.display_name,
        "NoPermissionType": decision.no_permission_type or "ImplicitDeny",
        "AuthAction": action,
        "EncodedDiagnosticMessage": encoded,
    }
