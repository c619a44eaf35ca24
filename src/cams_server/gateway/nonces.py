"""Nonce memory: a signature nonce is accepted once while its request could be valid.

A request is valid while its timestamp is within 15 minutes of the server's clock,
so a nonce is remembered until its request's timestamp plus that skew, then
forgotten. Memory is bounded: past `capacity` live nonces the store refuses new ones
(the gateway answers ServiceUnavailable) rather than forget early and admit a replay.

The store is an open-addressing hash table in one `array('Q')`: each 8-byte slot
packs a 48-bit fingerprint of (scope, nonce) with the 16-bit minute after which the
entry expires, and the table is kept at most three quarters full (linear probing
stays short), so a remembered nonce costs 11 to 21 bytes (a dict of digests costs
over 130). Expired slots are reused in place;
a rehash drops them. A false "seen" needs a 48-bit fingerprint collision with a live
nonce: about one in 10^8 calls at a million live nonces, and the caller just retries
with a new nonce.
"""

from __future__ import annotations

import hashlib
from array import array
from typing import Protocol

__all__ = ["MemoryNonceStore", "NonceStore", "NonceStoreFull"]

_MINUTE_MASK = 0xFFFF
_HALF = 0x8000
_MIN_SLOTS = 1024


class NonceStoreFull(RuntimeError):
    pass


class NonceStore(Protocol):
    def remember(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        """True if the nonce is new in `scope` (and is now remembered); False if seen."""
        ...

    def size(self) -> int: ...


def _home(fingerprint: int, mask: int) -> int:
    """The first slot to probe: from the fingerprint alone, so a rehash can recompute it."""
    return ((fingerprint * 0x9E3779B97F4A7C15) >> 32) & mask


def _after(minute: int, current: int) -> bool:
    """Whether 16-bit `minute` lies after 16-bit `current` (within half the ring)."""
    diff = (minute - current) & _MINUTE_MASK
    return 0 < diff < _HALF


class MemoryNonceStore:
    def __init__(self, capacity: int = 5_000_000) -> None:
        self._capacity = capacity
        self._slots = array("Q", bytes(8 * _MIN_SLOTS))
        self._mask = _MIN_SLOTS - 1
        self._used = 0  # non-empty slots, live or expired
        self._live_by_minute: dict[int, int] = {}  # expiry minute -> live entries
        self._live = 0
        self._current = 0

    def remember(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        self._advance(int(now // 60))
        digest = hashlib.blake2b(f"{scope}\0{nonce}".encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        fingerprint = (value >> 16) or 1
        minute = int(expires_at // 60) + 1  # forgotten once the clock reaches this minute
        slots, mask, current = self._slots, self._mask, self._current & _MINUTE_MASK
        index = _home(fingerprint, mask)
        reusable = -1
        while True:
            slot = slots[index]
            if slot == 0:
                break
            live = _after(slot & _MINUTE_MASK, current)
            if slot >> 16 == fingerprint:
                if live:
                    return False
                reusable = index
                break
            if not live and reusable < 0:
                reusable = index
            index = (index + 1) & mask
        if self._live >= self._capacity:
            raise NonceStoreFull(f"{self._live} live nonces")
        packed = (fingerprint << 16) | (minute & _MINUTE_MASK)
        if reusable >= 0:
            slots[reusable] = packed
        else:
            slots[index] = packed
            self._used += 1
        self._live += 1
        self._live_by_minute[minute] = self._live_by_minute.get(minute, 0) + 1
        if self._used * 4 > len(slots) * 3:
            self._rehash()
        return True

    def size(self) -> int:
        return self._live

    def _advance(self, current: int) -> None:
        if current == self._current:
            return
        self._current = current
        for minute in [m for m in self._live_by_minute if m <= current]:
            self._live -= self._live_by_minute.pop(minute)

    def _rehash(self) -> None:
        current = self._current & _MINUTE_MASK
        size = _MIN_SLOTS
        while size < self._live * 2:
            size *= 2
        old = self._slots
        slots = array("Q", bytes(8 * size))
        mask = size - 1
        used = 0
        for slot in old:
            if slot == 0 or not _after(slot & _MINUTE_MASK, current):
                continue
            index = _home(slot >> 16, mask)
            while slots[index]:
                index = (index + 1) & mask
            slots[index] = slot
            used += 1
        self._slots, self._mask, self._used = slots, mask, used
