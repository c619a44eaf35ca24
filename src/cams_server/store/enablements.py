"""ROI-metric enablements: written once, durable before the API answers, never undone."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from cams_server.store.database import (
    DATABASE_TIMEOUT_SECONDS,
    Database,
    DialectInsert,
    StoreUnavailable,
)
from cams_server.store.schema import roi_enablements, upstream_outbox

__all__ = [
    "Enablement",
    "EnablementRequest",
    "EnablementWriter",
    "enable_roi_metric",
    "enable_roi_metrics",
    "enablement_times",
    "list_enablements",
]

log = logging.getLogger("cams_server")
_COLUMNS = ("account_id", "space_id", "enabled_at_us", "enabled_by")


@dataclass(frozen=True, slots=True)
class Enablement:
    account_id: str
    space_id: str | None  # None: the account's own (non-ISV) spaces
    enabled_at_us: int
    enabled_by: str
    upstream: str = "not-configured"  # not-configured, pending, confirmed, failed
    upstream_error: str | None = None

    @property
    def enabled_at(self) -> datetime:
        return datetime.fromtimestamp(self.enabled_at_us / 1_000_000, tz=UTC)

    def to_json(self) -> dict[str, str | None]:
        return {
            "account_id": self.account_id,
            "space_id": self.space_id,
            "enabled_at": self.enabled_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "enabled_by": self.enabled_by,
            "upstream": self.upstream,
            "upstream_error": self.upstream_error,
        }


def _from_row(row: Row[Any, Any, Any, Any]) -> Enablement:
    return Enablement(
        str(row.account_id), str(row.space_id) or None, int(row.enabled_at_us), str(row.enabled_by)
    )


def _enablement_insert(db: Database) -> DialectInsert:
    """Built once per database (`Database.prepared`): it costs more than it runs."""
    return db.insert(roi_enablements).on_conflict_do_nothing(
        index_elements=["account_id", "space_id"]
    )


def _enablement_sql(db: Database) -> str:
    """The same insert as SQL text for `Database.write_directly` (compiled once)."""
    return str(
        _enablement_insert(db).compile(dialect=db.engine.dialect, column_keys=list(_COLUMNS))
    )


# The batch's rows as one JSON array of arrays: one parameter that psycopg sends as it
# is, where four arrays cost a Python adaptation per element (bench/README.md).
_PG_BULK_INSERT = (
    "INSERT INTO roi_enablements (account_id, space_id, enabled_at_us, enabled_by) "
    "SELECT r->>0, r->>1, (r->>2)::bigint, r->>3 FROM json_array_elements(%s::json) AS r "
    "ON CONFLICT (account_id, space_id) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class EnablementRequest:
    """One enablement to record (the first time wins; a repeat changes nothing)."""

    account_id: str
    space_id: str | None  # None: the account's own (non-ISV) spaces
    enabled_at_us: int
    enabled_by: str
    # (space id, WABA id) pairs whose switch at Meta must be turned on: they enter the
    # outbox in the same transaction, so an `OK` never loses them.
    upstream: tuple[tuple[str, str], ...] = ()

    def row(self) -> tuple[str, str, int, str]:
        return (self.account_id, self.space_id or "", self.enabled_at_us, self.enabled_by)


def enable_roi_metrics(db: Database, requests: Sequence[EnablementRequest]) -> None:
    """Record every enablement of `requests` that is new, in one transaction: all of
    them are durable when this returns, or none is and it raises."""
    if not requests:
        return
    if not any(r.upstream for r in requests):
        if db.sqlite_path is not None:
            # The call path's write, made lean: sqlite3 directly (bench/README.md).
            db.write_directly([(db.prepared(_enablement_sql), r.row()) for r in requests])
            return
        if db.dialect == "postgresql":
            # One statement for the whole batch: a statement per row cost about 65 us
            # of CPU each (bench/README.md).
            rows = json.dumps([r.row() for r in requests])
            db.write_directly([(_PG_BULK_INSERT, (rows,))])
            return
    with db.transaction() as conn:
        conn.execute(
            db.prepared(_enablement_insert),
            [dict(zip(_COLUMNS, r.row(), strict=True)) for r in requests],
        )
        outbox = [
            {
                "account_id": r.account_id,
                "space_id": space_id,
                "waba_id": waba_id,
                "state": "pending",
                "attempts": 0,
                "next_attempt_ms": r.enabled_at_us // 1000,
                "lease_until_ms": 0,
                "last_error": None,
                "updated_ms": r.enabled_at_us // 1000,
            }
            for r in requests
            for space_id, waba_id in r.upstream
        ]
        if outbox:
            conn.execute(
                db.insert(upstream_outbox).on_conflict_do_nothing(
                    index_elements=["account_id", "space_id"]
                ),
                outbox,
            )


def enable_roi_metric(
    db: Database,
    account_id: str,
    space_id: str | None,
    now_us: int,
    enabled_by: str,
    upstream: Sequence[tuple[str, str]] = (),
) -> Enablement:
    """Record the enablement if it is new; return the stored one (the first time wins)."""
    enable_roi_metrics(
        db, [EnablementRequest(account_id, space_id, now_us, enabled_by, tuple(upstream))]
    )
    with db.transaction() as conn:
        return _fetch(conn, account_id, space_id or "")


class EnablementWriter:
    """Group commit: the first-time enablements of one event-loop turn share one
    transaction (on PostgreSQL one round trip, in pipeline mode), and each caller is
    answered only after that transaction committed.

    A batch is written at the end of the turn in which its first request arrived; on a
    remote database one batch is in flight at a time and the next one gathers meanwhile,
    so under load a commit serves many calls. When a batch fails, every request in it
    fails with `StoreUnavailable` (none of them may answer OK: none is known durable).
    """

    def __init__(self, database: Database, timeout: float = DATABASE_TIMEOUT_SECONDS) -> None:
        self._database = database
        self._timeout = timeout
        self._pending: list[tuple[EnablementRequest, asyncio.Future[None]]] = []
        self._in_flight = False  # a remote batch is being committed
        self.batches = 0  # batches committed or failed, for tests and benchmarks

    async def enable(self, request: EnablementRequest) -> None:
        """Return once `request` is durable; raise `StoreUnavailable` if its batch failed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((request, done))
        if len(self._pending) == 1 and not self._in_flight:
            loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self._database.is_sqlite:  # microseconds: inline, no thread hop
            self._settle(batch, self._write(batch))
            return
        self._in_flight = True
        asyncio.get_running_loop().create_task(self._write_remote(batch))

    async def _write_remote(
        self, batch: list[tuple[EnablementRequest, asyncio.Future[None]]]
    ) -> None:
        try:
            failure = await asyncio.wait_for(asyncio.to_thread(self._write, batch), self._timeout)
        except TimeoutError:
            failure = StoreUnavailable(f"the database did not commit within {self._timeout:g} s")
        self._settle(batch, failure)
        self._in_flight = False
        if self._pending:
            self._flush()

    def _write(
        self, batch: list[tuple[EnablementRequest, asyncio.Future[None]]]
    ) -> StoreUnavailable | None:
        try:
            enable_roi_metrics(self._database, [request for request, _ in batch])
        except Exception as exc:  # every caller of the batch is told, none answers OK
            log.error("a batch of %d enablements failed: %s", len(batch), exc)
            return StoreUnavailable(f"{type(exc).__name__}: {exc}")
        return None

    def _settle(
        self,
        batch: list[tuple[EnablementRequest, asyncio.Future[None]]],
        failure: StoreUnavailable | None,
    ) -> None:
        self.batches += 1
        for _, done in batch:
            if done.done():  # its caller went away
                continue
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)


def _fetch(conn: Connection, account_id: str, key: str) -> Enablement:
    row = conn.execute(
        select(
            roi_enablements.c.account_id,
            roi_enablements.c.space_id,
            roi_enablements.c.enabled_at_us,
            roi_enablements.c.enabled_by,
        ).where(roi_enablements.c.account_id == account_id, roi_enablements.c.space_id == key)
    ).one()
    return _from_row(row)


_SEVERITY = {"failed": 3, "pending": 2, "delivering": 2, "confirmed": 1}


def list_enablements(db: Database) -> list[Enablement]:
    """Every enablement with the state of its upstream (Meta) switch.

    An account-wide enablement shows the worst state among its account's deliveries.
    """
    with db.transaction() as conn:
        rows = conn.execute(
            select(
                roi_enablements.c.account_id,
                roi_enablements.c.space_id,
                roi_enablements.c.enabled_at_us,
                roi_enablements.c.enabled_by,
            ).order_by(roi_enablements.c.enabled_at_us, roi_enablements.c.account_id)
        ).all()
        outbox = conn.execute(
            select(
                upstream_outbox.c.account_id,
                upstream_outbox.c.space_id,
                upstream_outbox.c.state,
                upstream_outbox.c.last_error,
            )
        ).all()
    by_space = {(o.account_id, o.space_id): o for o in outbox}
    out: list[Enablement] = []
    for r in rows:
        base = _from_row(r)
        if r.space_id:
            found = (
                [by_space[(r.account_id, r.space_id)]]
                if (r.account_id, r.space_id) in by_space
                else []
            )
        else:
            found = [o for o in outbox if o.account_id == r.account_id]
        if not found:
            out.append(base)
            continue
        worst = max(found, key=lambda o: _SEVERITY.get(o.state, 0))
        state = "pending" if worst.state == "delivering" else worst.state
        out.append(
            Enablement(
                base.account_id,
                base.space_id,
                base.enabled_at_us,
                base.enabled_by,
                state,
                worst.last_error,
            )
        )
    return out


def enablement_times(db: Database, account_id: str) -> dict[str | None, int]:
    """An account's enablements: space id (None = account-wide) -> enabled_at in ms."""
    with db.transaction() as conn:
        rows = conn.execute(
            select(roi_enablements.c.space_id, roi_enablements.c.enabled_at_us).where(
                roi_enablements.c.account_id == account_id
            )
        ).all()
    return {(r.space_id or None): r.enabled_at_us // 1000 for r in rows}
