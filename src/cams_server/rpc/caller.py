"""Who is calling: the principal a signature proved, and the nonce it must not reuse."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cams_server.ram.policy import Policy
from cams_server.ram.principals import Principal

__all__ = ["Caller", "NonceClaim"]


@dataclass(slots=True)
class NonceClaim:
    """A nonce to be accepted once per AccessKey until `expires_at` (epoch seconds)."""

    scope: str
    nonce: str
    expires_at: float
    signed_at: float = 0.0  # the request's signed timestamp (epoch seconds)

    def digest(self) -> bytes:
        """A stable 16-byte digest of (scope, nonce): the key a shared store (the SQLite
        file, Redis) remembers it by, the same in every process."""
        return hashlib.blake2b(f"{self.scope}\0{self.nonce}".encode(), digest_size=16).digest()


@dataclass(slots=True)
class Caller:
    principal: Principal
    access_key_id: str
    signature_version: str  # "V3" or "V1"
    nonce: NonceClaim
    session_policy: Policy | None = None  # a role session's narrowing policy
