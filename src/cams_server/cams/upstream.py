"""The upstream switch: turning on Meta's template insights for a space's WABA.

Enabling records an outbox row in the same transaction as the enablement; this worker
delivers it: `POST {graph}/{version}/{waba}?is_enabled_for_insights=true`. A row is
claimed with a lease (so several processes never deliver it at once, and a process
that dies mid-delivery leaves it to be taken again when the lease runs out), retried
with exponential backoff on network errors, 429 and 5xx, and marked `failed` with the
last error after a 4xx or when the attempts run out. The Graph operation is
idempotent, so a delivery repeated after a crash has the effect of one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update

from cams_server.clock import Clock
from cams_server.store.database import Database
from cams_server.store.schema import upstream_outbox

__all__ = ["GRAPH_API_VERSION", "GraphApi", "UpstreamWorker"]

log = logging.getLogger("cams_server.upstream")

# The Graph API version calls go to unless told otherwise.
GRAPH_API_VERSION = "v21.0"


@dataclass(frozen=True)
class GraphApi:
    base_url: str
    token: str = field(repr=False)
    version: str = GRAPH_API_VERSION
    max_attempts: int = 8
    lease_seconds: float = 30.0
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class _Claim:
    account_id: str
    space_id: str
    waba_id: str
    attempts: int


class UpstreamWorker:
    def __init__(
        self, database: Database, graph: GraphApi, clock: Clock, poll_seconds: float = 0.5
    ) -> None:
        self._database = database
        self._graph = graph
        self._clock = clock
        self._poll = poll_seconds
        self._client = httpx.AsyncClient(timeout=graph.timeout_seconds)

    async def run_forever(self) -> None:
        while True:
            try:
                delivered = await self.run_once()
            except Exception:
                log.exception("upstream delivery loop failed; retrying")
                delivered = 0
            if not delivered:
                await asyncio.sleep(self._poll)

    async def close(self) -> None:
        await self._client.aclose()

    async def run_once(self) -> int:
        """Deliver every due row this process can claim; return how many it tried."""
        tried = 0
        while True:
            claim = await asyncio.to_thread(self._claim)
            if claim is None:
                return tried
            tried += 1
            await self._deliver(claim)

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    def _claim(self) -> _Claim | None:
        o = upstream_outbox.c
        now = self._now_ms()
        due = or_(
            and_(o.state == "pending", o.next_attempt_ms <= now),
            and_(o.state == "delivering", o.lease_until_ms <= now),
        )
        with self._database.transaction() as conn:
            row = conn.execute(
                select(o.account_id, o.space_id, o.waba_id, o.attempts).where(due).limit(1)
            ).first()
            if row is None:
                return None
            taken = conn.execute(
                update(upstream_outbox)
                .where(o.account_id == row.account_id, o.space_id == row.space_id, due)
                .values(
                    state="delivering",
                    attempts=o.attempts + 1,
                    updated_ms=now,
                    lease_until_ms=now + int(self._graph.lease_seconds * 1000),
                )
            ).rowcount
        if not taken:
            return None
        return _Claim(row.account_id, row.space_id, row.waba_id, row.attempts + 1)

    async def _deliver(self, claim: _Claim) -> None:
        graph = self._graph
        url = f"{graph.base_url.rstrip('/')}/{graph.version}/{claim.waba_id}"
        try:
            response = await self._client.post(
                url,
                params={"is_enabled_for_insights": "true"},
                headers={
                    "Authorization": f"Bearer {graph.token}",
                    "Idempotency-Key": f"{claim.account_id}:{claim.space_id}",
                },
            )
        except httpx.HTTPError as exc:
            await asyncio.to_thread(self._retry, claim, f"{type(exc).__name__}: {exc}")
            return
        if response.is_success:
            await asyncio.to_thread(self._finish, claim, "confirmed", None)
            log.info(
                "upstream insights enabled for WABA %s (space %s)", claim.waba_id, claim.space_id
            )
        elif response.status_code == 429 or response.status_code >= 500:
            await asyncio.to_thread(
                self._retry, claim, f"HTTP {response.status_code}: {response.text[:300]}"
            )
        else:
            await asyncio.to_thread(
                self._finish, claim, "failed", f"HTTP {response.status_code}: {response.text[:300]}"
            )

    def _retry(self, claim: _Claim, error: str) -> None:
        if claim.attempts >= self._graph.max_attempts:
            self._finish(claim, "failed", f"gave up after {claim.attempts} attempts: {error}")
            return
        delay = min(
            self._graph.backoff_seconds * 2 ** (claim.attempts - 1), self._graph.max_backoff_seconds
        )
        log.warning(
            "upstream delivery for WABA %s failed (%s); retry in %.1f s",
            claim.waba_id,
            error,
            delay,
        )
        now = self._now_ms()
        with self._database.transaction() as conn:
            conn.execute(
                update(upstream_outbox)
                .where(*self._still_ours(claim))
                .values(
                    state="pending",
                    next_attempt_ms=now + int(delay * 1000),
                    last_error=error,
                    updated_ms=now,
                    lease_until_ms=0,
                )
            )

    @staticmethod
    def _still_ours(claim: _Claim) -> tuple[Any, ...]:
        """The row as this claim left it: a late answer to a lease another process has
        since taken (and perhaps finished) must not overwrite its result."""
        o = upstream_outbox.c
        return (
            o.account_id == claim.account_id,
            o.space_id == claim.space_id,
            o.state == "delivering",
            o.attempts == claim.attempts,
        )

    def _finish(self, claim: _Claim, state: str, error: str | None) -> None:
        with self._database.transaction() as conn:
            conn.execute(
                update(upstream_outbox)
                .where(*self._still_ours(claim))
                .values(state=state, last_error=error, updated_ms=self._now_ms(), lease_until_ms=0)
            )
