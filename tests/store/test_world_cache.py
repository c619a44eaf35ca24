"""The enablements a process knows are on disk (`EnabledSet`): right, and small."""

from __future__ import annotations

import tracemalloc

from cams_server.store.world_cache import EnabledSet


def test_spaces_and_account_wide_enablements_are_apart() -> None:
    known = EnabledSet()
    known.remember("1000000000000001", "cams-acme-main")
    assert known.known("1000000000000001", "cams-acme-main")
    assert not known.known("1000000000000001", None)  # the space, not the whole account
    known.remember("1000000000000001", None)
    assert known.known("1000000000000001", None)
    assert not known.known("1000000000000001", "cams-acme-cust-1")
    known.clear()
    assert not known.known("1000000000000001", "cams-acme-main")


def test_an_entry_costs_a_set_slot_not_copies() -> None:
    """The soak enables 200,000 spaces in 10 minutes: with the directory's own strings
    passed in, the cache holds references (it held a tuple and two strings each, about
    230 bytes, before)."""
    spaces = [f"bench-soak-{i}-{i % 7}" for i in range(100_000)]  # the directory's strings
    known = EnabledSet()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for space in spaces:
            known.remember("9100000000000001", space)
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / len(spaces)
    finally:
        tracemalloc.stop()
    assert per_entry < 64, per_entry
