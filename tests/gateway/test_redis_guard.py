"""The Redis call guard, driven directly against the machine's Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

from cams_server.gateway.guard import FlowRequest
from cams_server.gateway.redis_guard import RedisGuard
from cams_server.rpc.caller import NonceClaim


def _run(redis_url: str, scenario: object) -> object:
    async def main() -> object:
        guard = RedisGuard(redis_url, prefix=f"cams-test-{uuid.uuid4().hex}")
        try:
            return await scenario(guard)  # type: ignore[operator]
        finally:
            await guard.reset()
            await guard.close()

    return asyncio.run(main())


def test_a_burst_larger_than_the_pool_waits_instead_of_failing(redis_url: str) -> None:
    now = time.time()

    async def burst(guard: RedisGuard) -> list[bool]:
        calls = [
            guard.admit(NonceClaim("k", f"n{i}", now + 900), FlowRequest(f"acct{i}:Op", 5), now)
            for i in range(300)
        ]
        return [a.admitted for a in await asyncio.gather(*calls)]

    assert _run(redis_url, burst) == [True] * 300


def test_concurrent_calls_of_one_account_admit_exactly_the_limit(redis_url: str) -> None:
    now = time.time()

    async def flood(guard: RedisGuard) -> list[float | None]:
        calls = [
            guard.admit(NonceClaim("k", f"n{i}", now + 900), FlowRequest("acct:Op", 5), now)
            for i in range(50)
        ]
        return [a.wait for a in await asyncio.gather(*calls)]

    waits = _run(redis_url, flood)
    assert isinstance(waits, list)
    assert waits.count(None) == 5
    assert all(0 < w <= 1.0 for w in waits if w is not None)


def test_a_nonce_is_accepted_once(redis_url: str) -> None:
    now = time.time()

    async def replay(guard: RedisGuard) -> list[bool]:
        claim = NonceClaim("k", "same", now + 900)
        first = await guard.admit(claim, None, now)
        second = await guard.admit(claim, None, now)
        other_scope = await guard.admit(NonceClaim("k2", "same", now + 900), None, now)
        return [first.nonce_fresh, second.nonce_fresh, other_scope.nonce_fresh]

    assert _run(redis_url, replay) == [True, False, True]


def test_one_batch_decides_its_calls_in_order(redis_url: str) -> None:
    """Calls gathered into one script call: a repeat of a nonce earlier in the same batch
    is a replay, calls without a flow window pass, and the window counts in order."""
    now = time.time()

    async def batch(guard: RedisGuard) -> tuple[list[tuple[bool, bool]], int]:
        claims = [
            (NonceClaim("k", "a", now + 900), FlowRequest("acct:Op", 2)),
            (NonceClaim("k", "a", now + 900), FlowRequest("acct:Op", 2)),  # replay
            (NonceClaim("k", "b", now + 900), None),
            (NonceClaim("k", "c", now + 900), FlowRequest("acct:Op", 2)),
            (NonceClaim("k", "d", now + 900), FlowRequest("acct:Op", 2)),  # over the limit
        ]
        answers = await asyncio.gather(*(guard.admit(c, f, now) for c, f in claims))
        return [(a.nonce_fresh, a.admitted) for a in answers], guard.batches

    decided, batches = _run(redis_url, batch)  # type: ignore[misc]
    assert decided == [(True, True), (False, False), (True, True), (True, True), (True, False)]
    assert batches == 1


def test_odd_characters_in_a_key_cannot_shift_the_calls_batched_with_it(redis_url: str) -> None:
    """The batch travels as one JSON argument: a key with quotes, spaces or line breaks
    (never built from a validated world) is one field, and every call keeps its answer."""
    now = time.time()

    async def scenario(guard: RedisGuard) -> list[tuple[bool, bool]]:
        odd = FlowRequest('acct "x",\n1 2 3:Op', 1)
        answers = await asyncio.gather(
            guard.admit(NonceClaim("k", "first", now + 900), odd, now),
            guard.admit(NonceClaim("k", 'n "2"\n', now + 900), odd, now),  # throttled
            guard.admit(NonceClaim("k", "third", now + 900), FlowRequest("acct:Op", 5), now),
        )
        return [(a.nonce_fresh, a.admitted) for a in answers]

    assert _run(redis_url, scenario) == [(True, True), (True, False), (True, True)]


def test_a_redis_that_forgot_the_script_is_given_it_again(redis_url: str) -> None:
    """Batches call the script by its SHA on a connection of their own; a Redis that
    restarted or flushed its scripts answers NOSCRIPT, and the batch sends the script."""
    now = time.time()

    async def scenario(guard: RedisGuard) -> list[bool]:
        first = await guard.admit(NonceClaim("k", "before", now + 900), None, now)
        await guard._redis.script_flush()
        second = await guard.admit(NonceClaim("k", "after", now + 900), None, now)
        replay = await guard.admit(NonceClaim("k", "after", now + 900), None, now)
        return [first.admitted, second.admitted, replay.nonce_fresh]

    assert _run(redis_url, scenario) == [True, True, False]


def test_a_batch_connection_lost_while_idle_is_replaced_before_the_next_batch(
    redis_url: str,
) -> None:
    """Redis dropped the guard's connection between batches (a restart, an idle timeout,
    a proxy): the next batch still answers. Retrying a batch is unsafe (it may have run),
    so an idle connection is checked with a PING first."""
    now = time.time()
    prefix = f"cams-test-{uuid.uuid4().hex}"

    async def main() -> list[bool]:
        guard = RedisGuard(redis_url, prefix=prefix, idle_check=0.1)
        try:
            first = await guard.admit(NonceClaim("k", "first", now + 900), None, now)
            clients = await guard._redis.client_list()
            ids = [c["id"] for c in clients if c.get("name") == f"{prefix}:batches"]
            assert len(ids) == 1, clients
            await guard._redis.client_kill_filter(_id=ids[0])
            await asyncio.sleep(0.3)
            second = await guard.admit(NonceClaim("k", "second", now + 900), None, now)
            return [first.admitted, second.admitted]
        finally:
            await guard.reset()
            await guard.close()

    assert asyncio.run(main()) == [True, True]
