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

from cams_server.gateway.guard import CallGuard, FlowRequest, MemoryGuard
from cams_server.gateway.redis_guard import RedisGuard
from cams_server.gateway.sqlite_guard import SqliteGuard
from cams_server.rpc.caller import NonceClaim
from cams_server.store.database import Database

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
        yield lambda: SqliteGuard(tmp_path / "cams.db")
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
