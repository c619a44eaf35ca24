"""The call guard in Redis: nonce and flow window in one Lua script, one round trip.

The calls that arrive in one event-loop turn are decided by one script call (a batch,
in arrival order), and while a batch is on its way the next one gathers: under load a
round trip serves many calls, and each call still gets its own exact answer.

The window's "now" is Redis `TIME`, not the caller's clock, so processes whose
clocks drift still share one exact window. The window is the sliding log of the
last `limit` admissions (a list): a call is admitted when fewer than `limit`
admissions lie within the last period. A nonce is `SET PXAT <expiry>` once the call is
admitted (a throttled call leaves none), after an `EXISTS` that refuses a repeat.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from cams_server.gateway.guard import REPLAYED, Admission, FlowRequest, GuardUnavailable
from cams_server.rpc.caller import NonceClaim

__all__ = ["RedisGuard"]

# ARGV[1] is the batch: a JSON array of five fields per call (nonce key, flow window key,
# nonce expiry in ms, limit (0: no window), period in us), decoded by Redis's own cjson.
# The calls of one batch are decided one after another, exactly as if each were its own
# script call, and the answer is a {fresh, wait} pair per call.
#
# One argument for the whole batch, not five per call: redis-py packs each argument in
# Python, which cost more per call than the rest of the guard; a line per call parsed
# with Lua patterns cost Redis more than it saved (bench/README.md).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local calls = cjson.decode(ARGV[1])
local out = {}
for i = 1, #calls, 5 do
  local nonce, window, expires, limit, period =
    calls[i], calls[i + 1], calls[i + 2], calls[i + 3], calls[i + 4]
  local fresh, wait = 1, -1
  if redis.call('EXISTS', nonce) == 1 then
    fresh, wait = 0, 0
  elseif limit > 0 and redis.call('LLEN', window) >= limit then
    local oldest = tonumber(redis.call('LINDEX', window, limit - 1))
    if oldest > now - period then wait = oldest + period - now end
  end
  if wait < 0 then
    if limit > 0 then
      redis.call('LPUSH', window, string.format('%.0f', now))
      redis.call('LTRIM', window, 0, limit - 1)
      redis.call('PEXPIRE', window, math.ceil(period / 1000) + 1000)
    end
    redis.call('SET', nonce, '1', 'PXAT', string.format('%.0f', expires))
  end
  out[#out + 1] = fresh
  out[#out + 1] = wait
end
return out
"""

# Calls one script call decides at most: a bound on the script's run (Redis runs one
# script at a time) and on the size of one request.
MAX_BATCH = 256


# The nonce's expiry is this process's clock; Redis applies it on its own. Kept this much
# longer, a process whose clock runs behind Redis's (or another process's) by less
# still refuses every replay.
_CLOCK_MARGIN_SECONDS = 60.0


# One call's line of a batch (see _SCRIPT), and where its (fresh, wait in us; < 0
# admitted) answer goes.
_Call = tuple[tuple[str, str, int, int, int], "asyncio.Future[tuple[int, int]]"]


class RedisGuard:
    def __init__(
        self,
        url: str,
        prefix: str = "cams",
        timeout: float = 0.5,
        max_connections: int = 64,
        idle_check: float = 5.0,
    ) -> None:
        # A bounded pool that makes a burst wait for a connection (up to `timeout`) instead
        # of failing it: the default pool refuses calls beyond its size outright.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        # The batches go one at a time: they have a connection of their own, used through
        # redis-py's connection API. Through the client, each batch also paid for a
        # connection taken from and given back to the pool, a retry wrapper, telemetry
        # and a task per write (its per-command socket timeout); one deadline bounds
        # the whole round trip instead (`_evaluate`). A batch is never sent twice (it may
        # have run before its answer was lost): a connection idle for `idle_check`
        # seconds, which Redis or a proxy may have dropped meanwhile, is checked with a
        # PING (reconnecting if need be) before the next batch goes out on it.
        self._batch_pool = aioredis.ConnectionPool.from_url(
            url,
            max_connections=1,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            health_check_interval=idle_check,
            # The PING (and a connect) is tried once more on a dropped connection: the
            # second try connects again. Never the batch itself.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            client_name=f"{prefix}:batches",
        )
        self._batch_connection: AbstractConnection | None = None
        self._timeout = timeout
        # The name Redis caches the script under (SHA-1 is what EVALSHA is keyed by).
        self._script_sha = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()
        self._prefix = prefix
        self._pending: list[_Call] = []  # calls waiting for the next batch
        self._in_flight = False  # a batch is on its way to Redis
        self._sending: set[asyncio.Task[None]] = set()  # (kept referenced until done)
        self.batches = 0  # script calls answered, for tests and benchmarks

    async def admit(self, nonce: NonceClaim, flow: FlowRequest | None, now: float) -> Admission:
        digest = nonce.digest()
        prefix = self._prefix
        line = (
            f"{prefix}:n:{digest.hex()}",
            f"{prefix}:f:{flow.key if flow else '-'}",
            int((nonce.expires_at + _CLOCK_MARGIN_SECONDS) * 1000),
            flow.limit if flow else 0,
            int((flow.period if flow else 1.0) * 1_000_000),
        )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._pending.append((line, answer))
        if len(self._pending) == 1 and not self._in_flight:
            loop.call_soon(self._send_next)
        fresh, wait_us = await answer
        if not fresh:
            return REPLAYED
        return Admission(True, None if wait_us < 0 else max(wait_us / 1_000_000, 0.001))

    def _send_next(self) -> None:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            return
        self._in_flight = True
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        calls = json.dumps([field for line, _ in batch for field in line])
        try:
            answers = await self._evaluate(calls)
            if len(answers) != 2 * len(batch):  # a line the script did not parse
                raise RedisError(f"{len(answers)} answers to {len(batch)} calls")
        except (RedisError, OSError) as exc:
            failure = GuardUnavailable(f"Redis is unreachable ({type(exc).__name__})")
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(failure)
        else:
            self.batches += 1
            for i, (_, answer) in enumerate(batch):
                if not answer.done():
                    answer.set_result((answers[2 * i], answers[2 * i + 1]))
        finally:
            self._in_flight = False
            if self._pending:
                self._send_next()

    async def _evaluate(self, calls: str) -> list[int]:
        """The script's answer to one batch, within `timeout` for the round trip."""
        connection = self._batch_connection
        if connection is None:
            connection = await self._batch_pool.get_connection()  # type: ignore[no-untyped-call]
            self._batch_connection = connection
        try:
            async with asyncio.timeout(self._timeout):
                await connection.send_command("EVALSHA", self._script_sha, 0, calls)
                try:
                    answers = await connection.read_response()
                except NoScriptError:  # a restarted or flushed Redis: EVAL caches it again
                    await connection.send_command("EVAL", _SCRIPT, 0, calls)
                    answers = await connection.read_response()
        except BaseException:
            # An answer may be on its way: the connection is dropped, never reused out of
            # step (the next batch connects again).
            await connection.disconnect(nowait=True)
            raise
        assert isinstance(answers, list)
        return answers

    @property
    def remembers_since(self) -> float:
        return 0.0  # its store outlives the process

    async def ready(self) -> str:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            return f"unreachable: {type(exc).__name__}: {exc}"
        return "ok"

    async def reset(self) -> None:
        try:
            async for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
                await self._redis.delete(key)
        except (RedisError, OSError) as exc:
            raise GuardUnavailable(f"Redis is unreachable ({type(exc).__name__})") from None

    async def close(self) -> None:
        if self._batch_connection is not None:
            await self._batch_pool.release(self._batch_connection)
            self._batch_connection = None
        await self._batch_pool.aclose()
        await self._redis.aclose(close_connection_pool=True)

    def sizes(self) -> dict[str, int]:
        return {}
