"""MemoryNonceStore: a nonce is accepted once per scope while its request could be valid."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_server.gateway import nonces
from cams_server.gateway.nonces import (
    MemoryNonceStore,
    NonceQuota,
    NonceStore,
    NonceStoreFull,
    QuotaLimits,
)

NOW = 1_800_000_000.0
EXPIRES = NOW + 900.0


def test_is_a_nonce_store() -> None:
    store: NonceStore = MemoryNonceStore()
    assert store.size() == 0


def test_remember_once_then_seen() -> None:
    store = MemoryNonceStore()
    assert store.remember("LTAI5tAcmeRoot000001", "n-1", EXPIRES, NOW) is True
    assert store.remember("LTAI5tAcmeRoot000001", "n-1", EXPIRES, NOW) is False
    assert store.remember("LTAI5tAcmeRoot000001", "n-1", EXPIRES, NOW + 100) is False


def test_different_scope_or_nonce_is_new() -> None:
    store = MemoryNonceStore()
    assert store.remember("key-a", "n-1", EXPIRES, NOW) is True
    assert store.remember("key-b", "n-1", EXPIRES, NOW) is True
    assert store.remember("key-a", "n-2", EXPIRES, NOW) is True
    assert store.size() == 3


def test_scope_and_nonce_do_not_run_together() -> None:
    # ("ab", "c") and ("a", "bc") are different pairs.
    store = MemoryNonceStore()
    assert store.remember("ab", "c", EXPIRES, NOW) is True
    assert store.remember("a", "bc", EXPIRES, NOW) is True


def test_remembered_until_expiry() -> None:
    store = MemoryNonceStore()
    assert store.remember("k", "n", EXPIRES, NOW) is True
    assert store.remember("k", "n", EXPIRES, EXPIRES - 1) is False
    assert store.remember("k", "n", EXPIRES, EXPIRES) is False


@pytest.mark.parametrize("expires_at", [EXPIRES, EXPIRES + 0.5, EXPIRES + 37.25, EXPIRES + 59.9])
def test_forgotten_after_expiry(expires_at: float) -> None:
    # Expiry is bucketed by minute: forgetting may lag, but it does happen.
    store = MemoryNonceStore()
    assert store.remember("k", "n", expires_at, NOW) is True
    assert store.remember("k", "n", expires_at, expires_at + 120.5) is True
    assert store.size() == 1


@pytest.mark.parametrize("expires_at", [EXPIRES, EXPIRES + 0.5, EXPIRES + 37.25])
def test_forgotten_once_now_is_past_expiry_plus_a_minute(expires_at: float) -> None:
    store = MemoryNonceStore()
    assert store.remember("k", "n", expires_at, NOW) is True
    assert store.remember("k", "n", expires_at, expires_at + 60.5) is True


@settings(max_examples=200, deadline=None)
@given(
    expires_offset=st.floats(0, 3600, allow_nan=False),
    later=st.floats(0, 1, allow_nan=False),
)
def test_never_forgotten_before_expiry(expires_offset: float, later: float) -> None:
    store = MemoryNonceStore()
    expires_at = NOW + expires_offset
    assert store.remember("k", "n", expires_at, NOW) is True
    assert store.remember("k", "n", expires_at, NOW + later * expires_offset) is False


def test_expiry_shrinks_size() -> None:
    store = MemoryNonceStore()
    store.remember("k", "old-1", NOW + 60, NOW)
    store.remember("k", "old-2", NOW + 60, NOW)
    store.remember("k", "new", NOW + 3600, NOW)
    assert store.size() == 3
    # Expiry happens on the next call.
    assert store.remember("k", "newer", NOW + 3600, NOW + 600) is True
    assert store.size() == 2
    assert store.remember("k", "new", NOW + 3600, NOW + 600) is False


def test_capacity_refuses_new_nonces() -> None:
    store = MemoryNonceStore(capacity=2)
    assert store.remember("k", "n-1", EXPIRES, NOW) is True
    assert store.remember("k", "n-2", EXPIRES, NOW) is True
    with pytest.raises(NonceStoreFull):
        store.remember("k", "n-3", EXPIRES, NOW)
    assert store.size() == 2
    # A replay is still recognised when full (it is not a new nonce) ...
    assert store.remember("k", "n-1", EXPIRES, NOW) is False
    # ... and once the old ones expire there is room again.
    assert store.remember("k", "n-3", EXPIRES + 900, EXPIRES + 600) is True
    assert store.size() == 1


def test_a_full_store_refuses_to_keep_another_nonce() -> None:
    store = MemoryNonceStore(capacity=1)
    assert store.remember("k", "n-1", EXPIRES, NOW) is True
    assert store.full()
    slot = store.claim("k", "n-2", NOW)
    assert slot is not None  # not seen, but there is no room to keep it
    with pytest.raises(NonceStoreFull):
        store.keep(slot, EXPIRES)
    assert store.size() == 1


def test_every_nonce_is_still_seen_after_the_table_grows() -> None:
    store = MemoryNonceStore()
    nonces = [f"n-{i}" for i in range(5000)]  # several rehashes of the 1024-slot table
    for nonce in nonces:
        assert store.remember("k", nonce, EXPIRES, NOW) is True
    assert store.size() == len(nonces)
    assert all(store.remember("k", nonce, EXPIRES, NOW) is False for nonce in nonces)


def test_the_table_grows_in_steps_and_forgets_nothing_meanwhile() -> None:
    """Growing moves the old table a few slots per call, not all at once (a 1.6-million-
    slot rehash stopped the server for half a second): while it moves, every nonce is
    still seen, a replay of one not yet moved is refused, and new ones are kept."""
    store = MemoryNonceStore()
    kept = []
    assert store.slots() == 1024
    while not store.growing:
        kept.append(f"n-{len(kept)}")
        assert store.remember("k", kept[-1], EXPIRES, NOW) is True
    assert store.slots() == 1024 + 2048  # both tables count while the old one empties
    calls_while_growing = 0
    while store.growing:
        assert store.remember("k", kept[calls_while_growing], EXPIRES, NOW) is False
        kept.append(f"m-{calls_while_growing}")
        assert store.remember("k", kept[-1], EXPIRES, NOW) is True
        calls_while_growing += 1
    # The 1,024-slot table moved 8 slots a call: spread over more than a hundred calls.
    assert calls_while_growing >= 1024 // 8 - 1
    assert store.slots() == 2048
    assert store.size() == len(kept)
    assert all(store.remember("k", nonce, EXPIRES, NOW) is False for nonce in kept)


def test_a_table_of_mostly_expired_nonces_shrinks_without_a_pause() -> None:
    """When most entries have expired the next table is smaller, but still large enough
    for the move to finish in steps (no call moves the whole old table)."""
    store = MemoryNonceStore()
    store.remember("k", "anchor", NOW + 1500, NOW)  # live throughout: no entry is dropped
    for i in range(20_000):
        store.remember("k", f"old-{i}", NOW + 60, NOW)
    while store.growing:
        store.remember("k", f"filler-{store.size()}", NOW + 60, NOW)
    later = NOW + 600
    grown = 0
    for i in range(20_000):
        was_growing = store.growing
        assert store.remember("k", f"new-{i}", later + 900, later) is True
        grown += store.growing and not was_growing
    assert grown >= 1 and store.size() == 20_001
    assert store.remember("k", "new-7", later + 900, later) is False
    assert store.remember("k", "anchor", later + 900, later) is False


def test_expired_slots_are_reused_and_dropped_on_growth() -> None:
    store = MemoryNonceStore()
    store.remember("k", "anchor", NOW + 1500, NOW)  # live throughout: no entry is dropped
    for i in range(3000):
        store.remember("k", f"old-{i}", NOW + 60, NOW)
    later = NOW + 600
    for i in range(3000):
        assert store.remember("k", f"new-{i}", later + 900, later) is True
    assert store.size() == 3001
    assert store.remember("k", "old-1", later + 900, later) is True  # forgotten, new again
    assert store.remember("k", "new-1", later + 900, later) is False


def test_when_every_entry_has_expired_the_tables_are_dropped() -> None:
    store = MemoryNonceStore()
    for i in range(20_000):
        store.remember("k", f"burst-{i}", NOW + 900, NOW)
    assert store.slots() > 20_000
    later = NOW + 1000  # past every entry's expiry
    assert store.remember("k", "next", later + 900, later) is True
    assert store.slots() == 1024 and store.size() == 1
    assert store.remember("k", "burst-1", later + 900, later) is True  # expired: new again


def test_a_burst_then_weeks_of_few_calls_never_revives_it() -> None:
    """The minute is a 16-bit ring: an entry 22.8 days past its expiry reads as live again.
    A burst, then a call every 10 minutes for 23 days, kept the burst's expired entries in
    a table that never grew, until they revived; the move of the next growth then copied
    them into a table sized for the few live nonces, and its probe for a free slot never
    ended. Now the tables are rebuilt every few days, and the burst's entries are gone."""
    store = MemoryNonceStore()
    for i in range(20_000):
        store.remember("k", f"burst-{i}", NOW + 900, NOW)
    burst_slots = store.slots()
    now, previous = NOW, ""
    while now < NOW + 23 * 86_400:
        now += 600
        nonce = f"quiet-{now:.0f}"
        assert store.remember("k", nonce, now + 900, now) is True
        if previous:  # kept 10 minutes ago, for 15: never forgotten early by a rebuild
            assert store.seen("k", previous, now)
        previous = nonce
    # 22.8 days after their expiry the burst's entries would read as live: none is left.
    assert not any(store.seen("k", f"burst-{i}", now) for i in range(0, 20_000, 7))
    assert store.slots() < burst_slots  # rebuilt smaller, without them
    for i in range(100_000):  # traffic returns: each move ends, none copies a revived entry
        now += 0.01
        assert store.remember("k", f"busy-{i}", now + 900, now) is True
    assert store.remember("k", "busy-99999", now + 900, now) is False


# -- NonceQuota: what one tenant may add to the store -----------------------------------------


def _take(quota: NonceQuota, key: str, account: str, now: float = NOW) -> float | None:
    return quota.take(key, account, now)


def test_quota_counts_per_key_and_per_account() -> None:
    quota = NonceQuota(QuotaLimits(per_key=3, per_account=5, window=60))
    assert [_take(quota, "k1", "acct") for _ in range(3)] == [None] * 3
    wait = _take(quota, "k1", "acct")
    assert wait is not None and 0 < wait <= 60
    assert [_take(quota, "k2", "acct") for _ in range(2)] == [None, None]
    assert _take(quota, "k2", "acct") is not None  # the account's 5 are used up
    assert _take(quota, "k3", "other") is None  # another tenant is untouched


def test_quota_refusal_says_when_the_window_ends() -> None:
    quota = NonceQuota(QuotaLimits(per_key=1, per_account=10, window=60))
    start = 60 * 1000.0
    assert _take(quota, "k", "a", start + 10) is None
    assert _take(quota, "k", "a", start + 45) == pytest.approx(15)
    assert _take(quota, "k", "a", start + 60) is None  # a new window


def test_given_back_calls_do_not_count() -> None:
    quota = NonceQuota(QuotaLimits(per_key=2, per_account=100, window=60))
    for _ in range(50):  # e.g. throttled calls: no nonce kept, so none counts
        assert quota.take("k", "a", NOW) is None
        quota.give_back("k", "a")
    assert [_take(quota, "k", "a") for _ in range(3)] == [None, None, pytest.approx(60 - NOW % 60)]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xy")), max_size=300))
def test_quota_bounds_what_each_tenant_adds_per_window(calls: list[tuple[str, str]]) -> None:
    limits = QuotaLimits(per_key=7, per_account=11, window=60)
    quota = NonceQuota(limits)
    taken: dict[str, int] = {}
    for key, account in calls:
        if _take(quota, key + account, account) is None:
            taken[key + account] = taken.get(key + account, 0) + 1
            taken[account] = taken.get(account, 0) + 1
    for name, count in taken.items():
        assert count <= (limits.per_account if len(name) == 1 else limits.per_key)


def test_store_checks_without_remembering() -> None:
    store = MemoryNonceStore()
    assert store.seen("k", "n", NOW) is False
    assert store.seen("k", "n", NOW) is False
    assert store.remember("k", "n", EXPIRES, NOW) is True
    assert store.seen("k", "n", NOW) is True
    assert store.seen("k", "n", EXPIRES + 120) is False  # expired


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_a_new_table_is_mapped_not_written() -> None:
    """Growing allocated the new table by writing all of it (an array from zeroed bytes):
    32 MB for 4 million slots, a 30 ms stop of the event loop. A mapped table costs
    memory only as its slots are used."""
    before = _resident_bytes()
    table = nonces._table(1 << 26)  # 512 MB of slots
    grown = _resident_bytes() - before
    table[0], table[len(table) - 1] = 1, 2  # usable at both ends
    assert (table[0], table[-1], len(table)) == (1, 2, 1 << 26)
    assert grown < 16 * 1024 * 1024, grown


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_writes_its_own_copy_of_the_table() -> None:
    """A shared mapping would let a process forked after the store was made fill the
    parent's table behind its counts (found by an attacker's review)."""
    store = MemoryNonceStore()
    assert store.remember("k", "before", 900.0, 0.0)
    pid = os.fork()
    if pid == 0:  # the child: remember a nonce in its copy, then leave at once
        store.remember("k", "child", 900.0, 0.0)
        os._exit(0)
    os.waitpid(pid, 0)
    assert not store.seen("k", "child", 0.0)
    assert store.seen("k", "before", 0.0)
    assert store.remember("k", "child", 900.0, 0.0)


def test_fingerprints_do_not_follow_from_the_nonce_alone() -> None:
    """Each store salts its fingerprints with a secret of its own: under a fixed
    PYTHONHASHSEED a caller could otherwise compute, offline, nonces that all probe one
    region of the table and make each replay of them cost a long probe."""
    first, second = MemoryNonceStore(), MemoryNonceStore()
    slots = {(s.claim("k", f"n{i}", 0.0) or (0,))[0] for s in (first, second) for i in range(4)}
    assert len(slots) == 8
