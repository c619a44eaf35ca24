"""Nonce memory: a signature nonce is accepted once while its request could be valid.

A request is valid while its timestamp is within 15 minutes of the server's clock,
so a nonce is remembered until its request's timestamp plus that skew, then
forgotten. Memory is bounded: past `capacity` live nonces the store refuses new ones
(the gateway answers ServiceUnavailable) rather than forget early and admit a replay.

The store is an open-addressing hash table of 64-bit slots (`_table`): each 8-byte slot
packs a 48-bit fingerprint of (scope, nonce) with the 16-bit minute after which the
entry expires, and the table is kept at most three quarters full (linear probing
stays short), so a remembered nonce costs 11 to 21 bytes (a dict of digests costs
over 130). Expired slots are reused in place; growing the table drops them. A false
"seen" needs a 48-bit fingerprint collision with a live nonce: about one in 10^8 calls
at a million live nonces, and the caller just retries with a new nonce.

The table grows in steps, not at once: rehashing 1.6 million slots in one go stopped
the event loop for half a second (bench/README.md, the soak). When it must grow, a
table of twice the live nonces takes the new ones, and each `keep` moves the next
`_MOVE_STEP` slots of the old table into it; until the old table is empty, a claim
probes both (an old slot already moved is marked `_MOVED`, so the old probe chains stay
intact). The steps finish the move long before the new table is three quarters full.

A table is anonymous memory (`mmap`), zero pages the kernel supplies as they are first
written: allocating a table of 4 million slots as an `array` wrote its 32 MB at once,
a pause of the event loop of about 30 ms; mapped, it takes microseconds.

The minute is 16 bits, a ring of 45 days read as "after now" within half of it: an entry
expired 22.8 days ago would read as live again. None gets that old. When the clock passes
the last live entry's minute, every entry is expired and the tables are dropped at once;
and the tables are rebuilt (the same move into a fresh table, which leaves expired entries
behind) every `_REBUILD_MINUTES` of the clock, each move going on by the minute as well as
by the call, so that it ends within `_MOVE_MINUTES` however few calls come. An entry
expired before a rebuild starts is gone when it ends: at most 12,288 minutes after it
expired, against the 32,768 at which it would revive. (Without this, a burst followed by
weeks of a call every few minutes revived the burst's entries, a move copied them into a
table sized for the few live ones, and the move's probe for a free slot never ended.)
"""

from __future__ import annotations

import hashlib
import mmap
import os
import sys
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "NONCE_CAPACITY",
    "MemoryNonceStore",
    "NonceClaimSlot",
    "NonceQuota",
    "NonceStore",
    "NonceStoreFull",
    "QuotaLimits",
]

_FINGERPRINT_MASK = (1 << 48) - 1
_MINUTE_MASK = 0xFFFF
_HALF = 0x8000
_MIN_SLOTS = 1024
_MOVED = (
    1  # an old-table slot whose entry has moved (no entry packs to 1: fingerprints are >= 1 << 16)
)
_MOVE_STEP = 8  # old-table slots moved by each `keep` while the table grows
_REBUILD_MINUTES = 8_192  # the longest the tables go unrebuilt while they hold expired entries
_MOVE_MINUTES = 4_096  # the longest a move takes: each minute of the clock moves this share


# (fingerprint, first empty slot, first reusable slot or -1), from `claim` to `keep`.
NonceClaimSlot = tuple[int, int, int]


class NonceStoreFull(Exception):
    pass


class NonceStore(Protocol):
    def seen(self, scope: str, nonce: str, now: float) -> bool:
        """Whether the nonce is remembered in `scope` (remembers nothing)."""
        ...

    def remember(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        """True if the nonce is new in `scope` (and is now remembered); False if seen."""
        ...

    def size(self) -> int: ...

    def full(self) -> bool:
        """Whether a new nonce would be refused for lack of room."""
        ...


def _table(slots: int) -> memoryview:
    """`slots` zeroed 64-bit slots, mapped, not written (see the module's docstring)."""
    # Private: a process forked after the store was made writes its own copy of a page.
    return memoryview(mmap.mmap(-1, 8 * slots, flags=mmap.MAP_PRIVATE)).cast("Q")


def _home(fingerprint: int, mask: int) -> int:
    """The first slot to probe: from the fingerprint alone, so a rehash can recompute it."""
    return ((fingerprint * 0x9E3779B97F4A7C15) >> 32) & mask


def _after(minute: int, current: int) -> bool:
    """Whether 16-bit `minute` lies after 16-bit `current` (within half the ring)."""
    diff = (minute - current) & _MINUTE_MASK
    return 0 < diff < _HALF


# Live nonces one process keeps at most: what it admits at its peak (about 28,000 calls a
# second, bench/README.md) over the 15 minutes a nonce lives, so that no sustained load the
# process can serve fills it. (5,000,000 was filled in 9 minutes by the soak at half the
# peak once the release build was that fast.) Full, the store is a table of 2^26 slots,
# 512 MiB, and 1 GiB while it moves into the next; a false "seen" is then about one call
# in 11 million (the caller retries with a new nonce).
NONCE_CAPACITY = 25_000_000


class MemoryNonceStore:
    def __init__(self, capacity: int = NONCE_CAPACITY) -> None:
        self._capacity = capacity
        self._salt = os.urandom(16).hex()
        self._siphash = sys.hash_info.width >= 64
        self._slots = _table(_MIN_SLOTS)
        self._mask = _MIN_SLOTS - 1
        self._used = 0  # non-empty slots, live or expired
        self._live_by_minute: dict[int, int] = {}  # expiry minute -> live entries
        self._live = 0
        self._current = 0
        self._old: memoryview | None = None  # the table being moved out of, while growing
        self._old_mask = 0
        self._moved_up_to = 0  # old-table slots before this index are moved
        self._rebuilt = -1  # the minute the last move into a fresh table began

    def seen(self, scope: str, nonce: str, now: float) -> bool:
        """Whether the nonce is remembered (live) in `scope`; remembers nothing."""
        return self.claim(scope, nonce, now) is None

    def claim(self, scope: str, nonce: str, now: float) -> NonceClaimSlot | None:
        """None if the nonce is remembered in `scope`; else where `keep` would put it.

        The slot stays valid until the store is next changed, so a caller that decides
        in between (the guard asks flow control) hashes and probes once, not twice.
        """
        minute = int(now // 60)
        if minute != self._current:
            self._advance(minute)
        # One hash and one probe per call: this runs on every call, so inline.
        # Python's own string hash (SipHash) of the store's secret salt and the nonce:
        # the table lives in one process, and this costs no hash object per call. The
        # salt keeps fingerprints unpredictable even under a fixed PYTHONHASHSEED (an
        # attacker who could predict them could build long probe chains).
        if self._siphash:
            fingerprint = (hash(f"{self._salt}{scope}\0{nonce}") & _FINGERPRINT_MASK) or 1
        else:  # a 32-bit build: its hash has too few bits for a fingerprint
            digest = hashlib.blake2b(
                f"{scope}\0{nonce}".encode(), digest_size=8, key=self._salt.encode()
            ).digest()
            fingerprint = (int.from_bytes(digest, "big") >> 16) or 1
        current = self._current & _MINUTE_MASK
        if self._old is not None and self._live_in_old(fingerprint, current):
            return None
        slots, mask = self._slots, self._mask
        index = _home(fingerprint, mask)
        reusable = -1
        while True:
            slot = slots[index]
            if slot == 0:
                return fingerprint, index, reusable
            live = 0 < ((slot & _MINUTE_MASK) - current) & _MINUTE_MASK < _HALF  # `_after`
            if slot >> 16 == fingerprint:
                return None if live else (fingerprint, index, index)
            if not live and reusable < 0:
                reusable = index
            index = (index + 1) & mask

    def keep(self, slot: NonceClaimSlot, expires_at: float) -> None:
        """Remember the nonce `claim` found room for, until `expires_at`."""
        if self._live >= self._capacity:
            raise NonceStoreFull(f"{self._live} live nonces")
        fingerprint, index, reusable = slot
        minute = int(expires_at // 60) + 1  # forgotten once the clock reaches this minute
        packed = (fingerprint << 16) | (minute & _MINUTE_MASK)
        if reusable >= 0:
            self._slots[reusable] = packed
        else:
            self._slots[index] = packed
            self._used += 1
        self._live += 1
        self._live_by_minute[minute] = self._live_by_minute.get(minute, 0) + 1
        if self._old is not None:
            self._move(_MOVE_STEP)
        if self._used * 4 > len(self._slots) * 3:
            self._grow()

    @property
    def growing(self) -> bool:
        """Whether entries are still being moved out of the previous table."""
        return self._old is not None

    def remember(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        slot = self.claim(scope, nonce, now)
        if slot is None:
            return False
        self.keep(slot, expires_at)
        return True

    def size(self) -> int:
        return self._live

    def slots(self) -> int:
        """Slots of its tables, 8 bytes each, the one being moved out of included: the
        store's memory (twice the live nonces' share while a larger table fills)."""
        return len(self._slots) + (len(self._old) if self._old is not None else 0)

    def full(self) -> bool:
        return self._live >= self._capacity

    def _advance(self, current: int) -> None:
        if current == self._current:
            return
        elapsed = current - self._current
        self._current = current
        for minute in [m for m in self._live_by_minute if m <= current]:
            self._live -= self._live_by_minute.pop(minute)
        if self._live == 0:
            if self._used or self._old is not None:  # all expired: nothing to keep
                self._slots, self._mask, self._used = _table(_MIN_SLOTS), _MIN_SLOTS - 1, 0
                self._old = None
            self._rebuilt = current
            return
        if self._old is not None:  # a move goes on with the clock, not only with calls
            share = max(len(self._old) // _MOVE_MINUTES, _MOVE_STEP)
            self._move(share * min(max(elapsed, 1), _MOVE_MINUTES))
        elif current - self._rebuilt >= _REBUILD_MINUTES and self._used > self._live:
            self._grow()  # into a fresh table: the expired entries stay behind

    def _live_in_old(self, fingerprint: int, current: int) -> bool:
        """Whether the table being moved out of holds `fingerprint`, live."""
        old, mask = self._old, self._old_mask
        assert old is not None
        index = _home(fingerprint, mask)
        while True:
            slot = old[index]
            if slot == 0:
                return False
            if slot >> 16 == fingerprint:
                return _after(slot & _MINUTE_MASK, current)
            index = (index + 1) & mask

    def _grow(self) -> None:
        """Start moving into a table of at least twice the live nonces (expired entries
        are left behind). A move still under way is finished first: the steps make that
        rare (the new table was sized to take far more than arrive while it fills)."""
        if self._old is not None:
            self._move(len(self._old))
        # Twice what it must hold by the time the move ends: the live nonces, and one new
        # one for each step of the move.
        size = _MIN_SLOTS
        while size < 2 * (self._live + len(self._slots) // _MOVE_STEP):
            size *= 2
        self._old, self._old_mask, self._moved_up_to = self._slots, self._mask, 0
        self._slots, self._mask, self._used = _table(size), size - 1, 0
        self._rebuilt = self._current

    def _move(self, count: int) -> None:
        """Move the next `count` slots of the old table (their live entries) over."""
        old = self._old
        assert old is not None
        slots, mask = self._slots, self._mask
        current = self._current & _MINUTE_MASK
        start = self._moved_up_to
        stop = min(start + count, len(old))
        for position in range(start, stop):
            slot = old[position]
            if slot == 0:
                continue
            old[position] = _MOVED
            if slot == _MOVED or not _after(slot & _MINUTE_MASK, current):
                continue
            index = _home(slot >> 16, mask)
            while slots[index]:
                index = (index + 1) & mask
            slots[index] = slot
            self._used += 1
        self._moved_up_to = stop
        if stop == len(old):
            self._old = None


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """Nonces one AccessKey, and one account, may add to the store in a minute (per
    process).

    The store keeps a nonce only for a call flow control admits, for up to 30 minutes
    (a timestamp 15 minutes ahead, plus the 15-minute window). Operations without a
    flow limit (STS) would let one key add nonces without end; these bound every key to
    at most `per_key` x 32 live nonces and every account to `per_account` x 32 in each
    process: far above what the flow limits let through for CAMS (5 calls a second per
    operation and account), far below what fills a store.
    """

    per_key: int = 1_800
    per_account: int = 3_600
    window: float = 60.0


class NonceQuota:
    """Fixed one-minute windows of kept nonces per AccessKey and per account.

    A call is counted before the guard and given back when the guard keeps no nonce for
    it (a replay, a throttled call); a call over either quota is refused before its
    nonce is stored, so it has no effect and its nonce may still be accepted once,
    later. Memory is one counter per key and account active in the current minute.
    """

    def __init__(self, limits: QuotaLimits | None = None) -> None:
        self.limits = limits or QuotaLimits()
        self._window = -1
        self._by_key: dict[str, int] = {}
        self._by_account: dict[str, int] = {}

    def reset(self) -> None:
        self._window, self._by_key, self._by_account = -1, {}, {}

    def take(self, access_key_id: str, account_id: str | None, now: float) -> float | None:
        """Count one nonce for this key and account (None: the key's quota only) and
        answer None, or, over either quota, count nothing and answer the seconds until
        the next window."""
        window = int(now // self.limits.window)
        if window != self._window:
            self._window, self._by_key, self._by_account = window, {}, {}
        by_key, by_account = self._by_key, self._by_account
        key_count = by_key.get(access_key_id, 0)
        account_count = 0 if account_id is None else by_account.get(account_id, 0)
        if key_count >= self.limits.per_key or account_count >= self.limits.per_account:
            return max((window + 1) * self.limits.window - now, 0.001)
        by_key[access_key_id] = key_count + 1
        if account_id is not None:
            by_account[account_id] = account_count + 1
        return None

    def give_back(self, access_key_id: str, account_id: str | None) -> None:
        """Uncount a `take` whose nonce was not kept after all (a replay, a throttled call)."""
        by_key, by_account = self._by_key, self._by_account
        if by_key.get(access_key_id, 0) > 0:
            by_key[access_key_id] -= 1
        if account_id is not None and by_account.get(account_id, 0) > 0:
            by_account[account_id] -= 1
