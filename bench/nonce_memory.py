"""Memory of the embedded nonce store per remembered nonce (target: at most 64 bytes).

Fills a fresh `cams_server.gateway.nonces.MemoryNonceStore` with COUNT distinct nonces the
way the gateway does (scope = an AccessKey id out of 10,000, nonce = 32 hex characters,
expiry = the request's time plus 15 minutes, requests spread over a minute) and reports,
divided by COUNT:

- live bytes (the headline): everything reachable from the store once it is full, summed
  with `sys.getsizeof` (the table, its entries, keys and values; classes and modules are
  not the store's). It is what tracemalloc reports for the store; `--tracemalloc` checks
  that directly, at about ten times the run time;
- RSS growth: the process's resident set growth while filling the store: what the
  operating system sees, including allocator slack and freed-but-kept transient memory
  (a table that doubles frees its old half, which glibc may keep).

    python bench/nonce_memory.py [--count 1000000] [--tracemalloc]

The last line is `NONCE-RESULT {json}` for bench/run.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import mmap
import os
import sys
import time
import tracemalloc
import types
from typing import Any

from cams_server.gateway.nonces import MemoryNonceStore

TARGET_BYTES = 64
SKEW = 15 * 60
_NOT_OWNED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def live_bytes(root: Any) -> int:
    """Bytes of every object reachable from `root` (each counted once)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _NOT_OWNED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, mmap.mmap):  # a mapped table: its size is not its object's
            total += len(obj)
        stack.extend(gc.get_referents(obj))
    return total


def _fill(store: MemoryNonceStore, count: int, now: float) -> float:
    """Remember `count` nonces; the slowest single `remember()` in seconds (the table
    growing is the one step that could stop the server: it must be spread out)."""
    salt = os.urandom(8).hex()
    clock = time.perf_counter
    slowest = 0.0
    for i in range(count):
        sent = now + 60 * i / count
        scope, nonce = f"LTAI5tBench{i % 10_000:07d}", f"{salt}{i:016x}"
        started = clock()
        fresh = store.remember(scope, nonce, sent + SKEW, sent)
        slowest = max(slowest, clock() - started)
        if not fresh:
            raise SystemExit(f"nonce {i} was reported as seen: the store is wrong")
    return slowest


def measure(count: int, traced: bool) -> dict[str, float]:
    now = time.time()
    result: dict[str, float] = {"count": count, "target_bytes_per_nonce": TARGET_BYTES}
    gc.collect()
    rss_before = _rss_bytes()
    empty = live_bytes(MemoryNonceStore(capacity=count + 1))
    started = time.perf_counter()
    store = MemoryNonceStore(capacity=count + 1)
    result["slowest_remember_ms"] = _fill(store, count, now) * 1e3
    result["remember_us"] = (time.perf_counter() - started) / count * 1e6
    gc.collect()
    result["rss_bytes_per_nonce"] = (_rss_bytes() - rss_before) / count
    if store.size() != count:
        raise SystemExit(f"the store holds {store.size()} nonces, not {count}")
    result["live_bytes_per_nonce"] = (live_bytes(store) - empty) / count
    del store
    if traced:
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        store = MemoryNonceStore(capacity=count + 1)
        _fill(store, count, now)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["tracemalloc_bytes_per_nonce"] = (after - before) / count
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also measure with tracemalloc")
    args = parser.parse_args()
    result = measure(args.count, args.tracemalloc)
    per = result["live_bytes_per_nonce"]
    verdict = "meets" if per <= TARGET_BYTES else "MISSES"
    traced = result.get("tracemalloc_bytes_per_nonce")
    print(
        f"nonce store at {args.count:,} nonces: {per:.1f} live bytes/nonce"
        + ("" if traced is None else f" ({traced:.1f} by tracemalloc)")
        + f", {result['rss_bytes_per_nonce']:.1f} bytes/nonce RSS growth; "
        f"target <= {TARGET_BYTES}: {verdict}; remember() {result['remember_us']:.2f} us/call, "
        f"slowest {result['slowest_remember_ms']:.2f} ms"
    )
    print("NONCE-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
