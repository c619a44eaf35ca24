"""The call guard in Redis: nonce and flow window in one Lua script, one round trip.

The window's "now" is Redis `TIME`, not the caller's clock, so processes whose
clocks drift still share one exact window. The window is the sliding log of the
last `limit` admissions (a list): a call is admitted when fewer than `limit`
admissions lie within the last period. A nonce is `SET PXAT <expiry>` once the call is
admitted (a throttled call leaves none), after an `EXISTS` that refuses a repeat.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cams_server.gateway.guard import Admission, FlowRequest, GuardUnavailable
from cams_server.rpc.caller import NonceClaim

__all__ = ["RedisGuard"]

_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local period = tonumber(ARGV[3])
  if redis.call('LLEN', KEYS[2]) >= limit then
    local oldest = tonumber(redis.call('LINDEX', KEYS[2], limit - 1))
    if oldest > now - period then return {1, oldest + period - now} end
  end
  redis.call('LPUSH', KEYS[2], string.format('%.0f', now))
  redis.call('LTRIM', KEYS[2], 0, limit - 1)
  redis.call('PEXPIRE', KEYS[2], math.ceil(period / 1000) + 1000)
end
redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[1])
return {1, -1}
"""


# The nonce's expiry is this process's clock; Redis applies it on its own. Kept this much
# longer, a process whose clock runs behind Redis's (or another process's) by less
# still refuses every replay.
_CLOCK_MARGIN_SECONDS = 60.0


class RedisGuard:
    def __init__(
        self, url: str, prefix: str = "cams", timeout: float = 0.5, max_connections: int = 64
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
        self._script = self._redis.register_script(_SCRIPT)
        self._prefix = prefix

    async def admit(self, nonce: NonceClaim, flow: FlowRequest | None, now: float) -> Admission:
        digest = hashlib.blake2b(f"{nonce.scope}\0{nonce.nonce}".encode(), digest_size=16)
        keys = [
            f"{self._prefix}:n:{digest.hexdigest()}",
            f"{self._prefix}:f:{flow.key if flow else '-'}",
        ]
        args = [
            int((nonce.expires_at + _CLOCK_MARGIN_SECONDS) * 1000),
            flow.limit if flow else 0,
            int((flow.period if flow else 1.0) * 1_000_000),
        ]
        try:
            fresh, wait_us = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise GuardUnavailable(f"Redis is unreachable ({type(exc).__name__})") from None
        if not fresh:
            return Admission(False)
        return Admission(True, None if wait_us < 0 else max(wait_us / 1_000_000, 0.001))

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
        await self._redis.aclose(close_connection_pool=True)

    def sizes(self) -> dict[str, int]:
        return {}
