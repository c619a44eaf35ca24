"""STS temporary credentials that any process of a deployment can verify.

Nothing is stored per session: the security token is the session itself (account,
role, session name, expiry, session policy), sealed with AES-GCM under the
deployment's STS key; the `STS.` AccessKey secret is an HMAC of the key id under a
second key derived from it. Any process holding the key verifies a token with no
lookup; a token cannot be altered or moved to another key id without detection.

A token's lifetime is also checked against what this server would ever issue (issued
no later than the clock skew allows, lasting at most 12 hours) and against its role as
it is now (`check_role`): whoever obtained the STS key could mint any token, but not
one that outlives a deleted role, a lowered max_session_duration or twelve hours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cams_server.clock import utc_iso

__all__ = [
    "MAX_SESSION_DURATION",
    "IssuedCredentials",
    "SessionClaims",
    "StsTokenCodec",
    "TokenError",
    "check_role",
]

_TOKEN_PREFIX = "CAMS"  # noqa: S105 (a marker, not a secret)
_KEY_PREFIX = "STS."
# The longest session RAM allows any role (max_session_duration is 3600..43200 s).
MAX_SESSION_DURATION = 43200


class TokenError(ValueError):
    """`kind` is the `InvalidSecurityToken.<kind>` code suffix."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class SessionClaims:
    access_key_id: str
    account_id: str
    role_name: str
    session_name: str
    issued_at: int
    expires_at: int
    session_policy: str | None
    source_arn: str


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str
    claims: SessionClaims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StsTokenCodec:
    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(hmac.new(master_key, b"sts-token", hashlib.sha256).digest())
        self._secret_key = hmac.new(master_key, b"sts-secret", hashlib.sha256).digest()

    @staticmethod
    def is_sts_key(access_key_id: str) -> bool:
        return access_key_id.startswith(_KEY_PREFIX)

    def secret_for(self, access_key_id: str) -> str:
        digest = hmac.new(self._secret_key, access_key_id.encode(), hashlib.sha256).digest()
        return _b64(digest)[:40]

    def issue(
        self,
        account_id: str,
        role_name: str,
        session_name: str,
        issued_at: int,
        duration: int,
        session_policy: str | None,
        source_arn: str,
    ) -> IssuedCredentials:
        key_id = _KEY_PREFIX + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
        claims = SessionClaims(
            key_id,
            account_id,
            role_name,
            session_name,
            issued_at,
            issued_at + duration,
            session_policy,
            source_arn,
        )
        payload = json.dumps(
            {
                "k": claims.access_key_id,
                "a": account_id,
                "r": role_name,
                "s": session_name,
                "i": issued_at,
                "e": claims.expires_at,
                "p": session_policy,
                "b": source_arn,
            },
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(12)
        token = _TOKEN_PREFIX + _b64(nonce + self._aead.encrypt(nonce, payload, None))
        return IssuedCredentials(key_id, self.secret_for(key_id), token, claims)

    def open(self, access_key_id: str, token: str, now: float, max_skew: float) -> SessionClaims:
        """The session behind `token`, checked against `access_key_id` and `now` (a token
        issued more than `max_skew` seconds in the future, or lasting longer than any
        role may, was not issued by this server: it is refused as malformed)."""
        if not token.startswith(_TOKEN_PREFIX):
            raise TokenError("Malformed", "The security token was not issued by this server.")
        try:
            raw = _unb64(token[len(_TOKEN_PREFIX) :])
        except ValueError:
            raise TokenError("Malformed", "The security token is not valid base64.") from None
        if len(raw) < 28:
            raise TokenError("Malformed", "The security token is truncated.")
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], None)
        except InvalidTag:
            raise TokenError(
                "Malformed", "The security token was altered or issued by another deployment."
            ) from None
        data = json.loads(plain)
        claims = SessionClaims(
            data["k"],
            data["a"],
            data["r"],
            data["s"],
            int(data["i"]),
            int(data["e"]),
            data["p"],
            data["b"],
        )
        if claims.access_key_id != access_key_id:
            raise TokenError(
                "MismatchWithAccessKey",
                f"The security token belongs to AccessKeyId {claims.access_key_id}, not "
                f"{access_key_id}: send the AccessKeyId, AccessKeySecret and SecurityToken of "
                "one AssumeRole answer together.",
            )
        if claims.issued_at > now + max_skew:
            raise TokenError(
                "Malformed",
                f"The security token claims to be issued at {utc_iso(claims.issued_at)}, after "
                f"the server time {utc_iso(int(now))}: it was not issued by this server. Call "
                "AssumeRole for credentials (and check the clock of the server that issued it).",
            )
        lifetime = claims.expires_at - claims.issued_at
        if not 0 < lifetime <= MAX_SESSION_DURATION:
            raise TokenError(
                "Malformed",
                f"The security token claims a session of {lifetime} s; sessions last 1 to "
                f"{MAX_SESSION_DURATION} s, so this server did not issue it. Call AssumeRole "
                "for credentials.",
            )
        if now >= claims.expires_at:
            raise TokenError(
                "Expired",
                f"The security token expired at {utc_iso(claims.expires_at)} (server time "
                f"{utc_iso(int(now))}): call AssumeRole again for fresh credentials.",
            )
        return claims


def check_role(claims: SessionClaims, max_session_duration: int | None) -> None:
    """Refuse a session its role no longer allows: the role was deleted
    (`max_session_duration` None), or the session lasts longer than the role now allows."""
    role = f"acs:ram::{claims.account_id}:role/{claims.role_name}"
    if max_session_duration is None:
        raise TokenError(
            "Expired",
            f"The security token is for role {role}, which no longer exists: its sessions "
            "ended with it. Call AssumeRole on a role that exists.",
        )
    lifetime = claims.expires_at - claims.issued_at
    if lifetime > max_session_duration:
        raise TokenError(
            "Expired",
            f"The security token's session lasts {lifetime} s, longer than the "
            f"{max_session_duration} s role {role} now allows (its max_session_duration): "
            "call AssumeRole again for credentials within it.",
        )
