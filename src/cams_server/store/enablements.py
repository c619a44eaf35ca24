"""ROI-metric enablements: written once, durable before the API answers, never undone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cams_server.store.database import Database
from cams_server.store.schema import roi_enablements

__all__ = ["Enablement", "enable_roi_metric", "enablement_times", "list_enablements"]


@dataclass(frozen=True, slots=True)
class Enablement:
    account_id: str
    space_id: str | None  # None: the account's own (non-ISV) spaces
    enabled_at_us: int
    enabled_by: str

    @property
    def enabled_at(self) -> datetime:
        return datetime.fromtimestamp(self.enabled_at_us / 1_000_000, tz=UTC)

    def to_json(self) -> dict[str, str | None]:
        return {
            "account_id": self.account_id,
            "space_id": self.space_id,
            "enabled_at": self.enabled_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "enabled_by": self.enabled_by,
        }


def _from_row(row: Row[Any, Any, Any, Any]) -> Enablement:
    return Enablement(
        str(row.account_id), str(row.space_id) or None, int(row.enabled_at_us), str(row.enabled_by)
    )


def enable_roi_metric(
    db: Database, account_id: str, space_id: str | None, now_us: int, enabled_by: str
) -> Enablement:
    """Record the enablement if it is new; return the stored one (the first time wins)."""
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    key = space_id or ""
    with db.transaction() as conn:
        conn.execute(
            insert(roi_enablements)
            .values(
                account_id=account_id, space_id=key, enabled_at_us=now_us, enabled_by=enabled_by
            )
            .on_conflict_do_nothing(index_elements=["account_id", "space_id"])
        )
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


def list_enablements(db: Database) -> list[Enablement]:
    with db.transaction() as conn:
        rows = conn.execute(
            select(
                roi_enablements.c.account_id,
                roi_enablements.c.space_id,
                roi_enablements.c.enabled_at_us,
                roi_enablements.c.enabled_by,
            ).order_by(roi_enablements.c.enabled_at_us, roi_enablements.c.account_id)
        ).all()
    return [_from_row(r) for r in rows]


def enablement_times(db: Database, account_id: str) -> dict[str | None, int]:
    """An account's enablements: space id (None = account-wide) -> enabled_at in ms."""
    with db.transaction() as conn:
        rows = conn.execute(
            select(roi_enablements.c.space_id, roi_enablements.c.enabled_at_us).where(
                roi_enablements.c.account_id == account_id
            )
        ).all()
    return {(r.space_id or None): r.enabled_at_us // 1000 for r in rows}
