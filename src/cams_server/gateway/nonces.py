"""Nonce memory: a signature nonce is accepted once while its request could be valid.

A request is valid while its timestamp is within 15 minutes of the server's clock,
so a nonce is remembered until its request's timestamp plus that skew, and then
forgotten. Expiry is bucketed by minute, so forgetting costs nothing per call.
Memory is bounded: past `capacity` live nonces, the store refuses new ones (the
gateway then answers ServiceUnavailable) rather than forget early and admit a replay.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

__all__ = ["MemoryNonceStore", "NonceStore", "NonceStoreFull"]


class NonceStoreFull(RuntimeError):
    pass


class NonceStore(Protocol):
    def remember(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        """True if the nonce is new in `scope` (and is now remembered); False if seen."""
        ...

    def size(self) -> int: ...


class MemoryNonceStore:
    def __init__(self, capacity: int = 5_000_000) -> None:
        self._capacity = capacity
        self._seen: dict[bytes, int] = {}  # digest -> expiry bucket (minute)
        self._buckets: dict[int, list[bytes]] = {}
        self._oldest_bucket: int | None = None

    def remember(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        self._expire(now)
        digest = hashlib.blake2b(f"{scope}\0{nonce}".encode(), digest_size=16).digest()
        if digest in self._seen:
            return False
        if len(self._seen) >= self._capacity:
            raise NonceStoreFull(f"{len(self._seen)} live nonces")
        bucket = int(expires_at // 60) + 1  # bucket * 60 > expires_at: forgotten only after it
        self._seen[digest] = bucket
        self._buckets.setdefault(bucket, []).append(digest)
        if self._oldest_bucket is None or bucket < self._oldest_bucket:
            self._oldest_bucket = bucket
        return True

    def size(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        current = int(now // 60)
        while self._oldest_bucket is not None and self._oldest_bucket <= current:
            for digest in self._buckets.pop(self._oldest_bucket, ()):
                self._seen.pop(digest, None)
            self._oldest_bucket = min(self._buckets) if self._buckets else None
