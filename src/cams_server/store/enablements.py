"""ROI-metric enablements: written once, durable before the API answers, never undone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from cams_server.store.database import Database, DialectInsert
from cams_server.store.schema import roi_enablements, upstream_outbox

__all__ = ["Enablement", "enable_roi_metric", "enablement_times", "list_enablements"]


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
    columns = ["account_id", "space_id", "enabled_at_us", "enabled_by"]
    return str(_enablement_insert(db).compile(dialect=db.engine.dialect, column_keys=columns))


def enable_roi_metric(
    db: Database,
    account_id: str,
    space_id: str | None,
    now_us: int,
    enabled_by: str,
    upstream: Sequence[tuple[str, str]] = (),
) -> Enablement:
    """Record the enablement if it is new; return the stored one (the first time wins).

    `upstream` lists (space id, WABA id) pairs whose switch at Meta must be turned on:
    they enter the outbox in the same transaction, so an `OK` never loses them.
    """
    key = space_id or ""
    if db.sqlite_path is not None and not upstream:  # the call path's write, made lean
        (created,) = db.write_directly(
            [(db.prepared(_enablement_sql), (account_id, key, now_us, enabled_by))]
        )
        if created == 1:
            return Enablement(account_id, space_id or None, now_us, enabled_by)
    with db.transaction() as conn:
        created = conn.execute(
            db.prepared(_enablement_insert),
            {
                "account_id": account_id,
                "space_id": key,
                "enabled_at_us": now_us,
                "enabled_by": enabled_by,
            },
        ).rowcount
        now_ms = now_us // 1000
        for upstream_space, waba_id in upstream:
            conn.execute(
                db.insert(upstream_outbox)
                .values(
                    account_id=account_id,
                    space_id=upstream_space,
                    waba_id=waba_id,
                    state="pending",
                    attempts=0,
                    next_attempt_ms=now_ms,
                    lease_until_ms=0,
                    last_error=None,
                    updated_ms=now_ms,
                )
                .on_conflict_do_nothing(index_elements=["account_id", "space_id"])
            )
        if created == 1:  # ours: no need to read back what we just wrote
            return Enablement(account_id, space_id or None, now_us, enabled_by)
        return _fetch(conn, account_id, key)


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
