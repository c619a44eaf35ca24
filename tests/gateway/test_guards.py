"""What every call guard promises (memory, SQLite file, Redis), checked on each.

A nonce is accepted once; a throttled call takes no flow slot and leaves no nonce (so a
flood of throttled calls cannot fill the store, and its nonce may be accepted once
later); a replayed nonce takes no flow slot.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from cams_server.gateway.guard import CallGuard, FlowRequest, GuardUnavailable, MemoryGuard
from cams_server.gateway.redis_guard import RedisGuard
from cams_server.gateway.sqlite_guard import SqliteGuard
from cams_server.rpc.caller import NonceClaim
from cams_server.store.database import Database
from cams_server.store.wal import WalCheckpointer

NOW = 1_900_000_000.0

GuardFactory = Callable[[], CallGuard]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_guard(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GuardFactory]:
    if request.param == "memory":
        yield MemoryGuard
    elif request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'cams.db'}")
        database.migrate()
        database.dispose()
        wal = WalCheckpointer(tmp_path / "cams.db")
        yield lambda: SqliteGuard(tmp_path / "cams.db", wal)
        wal.close()
    else:
        redis_url = request.getfixturevalue("redis_url")
        yield lambda: RedisGuard(redis_url, prefix=f"cams-test-{uuid.uuid4().hex}")


def run(make_guard: GuardFactory, scenario: Callable[[CallGuard], Awaitable[object]]) -> object:
    async def main() -> object:
        guard = make_guard()
        try:
            return await scenario(guard)
        finally:
            await guard.reset()
            await guard.close()

    return asyncio.run(main())


def claim(nonce: str) -> NonceClaim:
    return NonceClaim("LTAI5tKey", nonce, NOW + 900)


def test_a_nonce_is_accepted_once(make_guard: GuardFactory) -> None:
    async def scenario(guard: CallGuard) -> list[bool]:
        return [(await guard.admit(claim("n"), None, NOW)).nonce_fresh for _ in range(3)]

    assert run(make_guard, scenario) == [True, False, False]


def test_a_throttled_call_leaves_no_nonce(make_guard: GuardFactory) -> None:
    flow = FlowRequest("acct:Op", 2, period=3600.0)  # Redis uses its own clock: a long period

    async def scenario(guard: CallGuard) -> list[tuple[bool, bool]]:
        results = []
        for nonce in ["a", "b", "c", "c"]:
            admission = await guard.admit(claim(nonce), flow, NOW)
            results.append((admission.nonce_fresh, admission.wait is None))
        return results

    # a and b admitted; c throttled twice: its nonce is not remembered while throttled
    assert run(make_guard, scenario) == [(True, True), (True, True), (True, False), (True, False)]


def test_a_replayed_nonce_takes_no_flow_slot(make_guard: GuardFactory) -> None:
    flow = FlowRequest("acct:Op", 2, period=3600.0)

    async def scenario(guard: CallGuard) -> list[tuple[bool, bool]]:
        results = []
        for nonce in ["a", "a", "a", "b"]:
            admission = await guard.admit(claim(nonce), flow, NOW)
            results.append((admission.nonce_fresh, admission.wait is None))
        return results

    # the replays of a are refused as such and leave the second slot to b
    assert run(make_guard, scenario) == [(True, True), (False, True), (False, True), (True, True)]


def test_calls_arriving_together_get_the_answers_they_would_get_one_by_one(
    make_guard: GuardFactory,
) -> None:
    """The same sequence as above, sent at once (the Redis guard decides them in one
    script call): each call still gets its own exact answer, in arrival order."""
    flow = FlowRequest("acct:Op", 2, period=3600.0)

    async def scenario(guard: CallGuard) -> list[tuple[bool, bool]]:
        admissions = await asyncio.gather(
            *(guard.admit(claim(n), flow, NOW) for n in ["a", "a", "b", "c", "c", "d"])
        )
        return [(a.nonce_fresh, a.wait is None) for a in admissions]

    assert run(make_guard, scenario) == [
        (True, True),  # a
        (False, True),  # a again: a replay, no slot taken
        (True, True),  # b: the second slot
        (True, False),  # c: throttled, its nonce not kept
        (True, False),  # c again: still throttled, not taken for a replay
        (True, False),  # d
    ]


def test_redis_decides_one_loop_turn_in_one_script_call(redis_url: str) -> None:
    async def scenario(guard: CallGuard) -> tuple[int, int]:
        assert isinstance(guard, RedisGuard)
        flows = [FlowRequest(f"acct{i % 7}:Op", 5, period=3600.0) for i in range(100)]
        admissions = await asyncio.gather(
            *(guard.admit(claim(f"n{i}"), flows[i], NOW) for i in range(100))
        )
        return sum(a.admitted for a in admissions), guard.batches

    make = lambda: RedisGuard(redis_url, prefix=f"cams-test-{uuid.uuid4().hex}")  # noqa: E731
    admitted, batches = run(make, scenario)  # type: ignore[misc]
    assert (admitted, batches) == (7 * 5, 1)


def test_redis_unreachable_fails_every_call_of_the_batch() -> None:
    async def scenario(guard: CallGuard) -> list[BaseException | object]:
        return await asyncio.gather(
            *(guard.admit(claim(f"n{i}"), None, NOW) for i in range(3)), return_exceptions=True
        )

    async def main() -> list[BaseException | object]:
        guard = RedisGuard("redis://127.0.0.1:1/0", timeout=0.2)
        try:
            return await scenario(guard)
        finally:
            await guard.close()

    outcomes = asyncio.run(main())
    assert all(isinstance(o, GuardUnavailable) for o in outcomes), outcomes
