"""Resetting a deployment's state (for test suites, through the admin API)."""

from __future__ import annotations

from sqlalchemy import delete

from cams_server.store.database import Database
from cams_server.store.schema import (
    access_keys,
    accounts,
    attachments,
    click_buckets,
    click_days,
    guard_flow,
    guard_nonces,
    isv_codes,
    message_events,
    phone_buckets,
    phone_days,
    policies,
    ram_groups,
    ram_roles,
    ram_users,
    roi_enablements,
    sent_messages,
    spaces,
    template_buckets,
    template_days,
    upstream_outbox,
)

__all__ = ["remove_accounts", "reset_state"]

_STATE = (
    roi_enablements,
    sent_messages,
    message_events,
    template_buckets,
    template_days,
    phone_buckets,
    phone_days,
    click_buckets,
    click_days,
    upstream_outbox,
    guard_nonces,
    guard_flow,
)
_WORLD = (
    access_keys,
    accounts,
    attachments,
    isv_codes,
    policies,
    ram_groups,
    ram_roles,
    ram_users,
    spaces,
)


def reset_state(db: Database, world: bool = False) -> None:
    with db.transaction() as conn:
        for table in _STATE + (_WORLD if world else ()):
            conn.execute(delete(table))
        Database.bump_world_version(conn)


def remove_accounts(db: Database, account_ids: list[str]) -> None:
    """Forget these accounts entirely: their world (keys, RAM, spaces) and their state."""
    with db.transaction() as conn:
        db.lock_world(conn)
        for table in _STATE + _WORLD:
            column = table.c.get("account_id")
            if table is accounts:
                column = accounts.c.id
            if column is not None:
                conn.execute(delete(table).where(column.in_(account_ids)))
        Database.bump_world_version(conn)
