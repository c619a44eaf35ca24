"""Resetting a deployment's state (for test suites, through the admin API)."""

from __future__ import annotations

from sqlalchemy import delete

from cams_server.store.database import Database, in_batches
from cams_server.store.schema import STATE_TABLES, WORLD_TABLES
from cams_server.store.world_repo import delete_accounts

__all__ = ["remove_accounts", "reset_state"]


def reset_state(db: Database, world: bool = False) -> None:
    with db.transaction() as conn:
        for table in STATE_TABLES + (WORLD_TABLES if world else ()):
            conn.execute(delete(table))
        Database.bump_world_version(conn)


def remove_accounts(db: Database, account_ids: list[str]) -> None:
    """Forget these accounts entirely: their world (keys, RAM, spaces) and their state."""
    with db.transaction() as conn:
        db.lock_world(conn)
        delete_accounts(conn, account_ids)
        for table in STATE_TABLES:
            column = table.c.get("account_id")
            if column is not None:  # rows of no account (the guard, message events) stay
                for batch in in_batches(account_ids):
                    conn.execute(delete(table).where(column.in_(batch)))
        Database.bump_world_version(conn)
