"""Enablements written by group commit (`EnablementWriter`), on SQLite and PostgreSQL.

The first-time enablements of one event-loop turn share one transaction; each caller
returns only once that transaction committed, and when it fails every caller in it
fails: none of them may answer OK.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cams_server.store.database import Database, StoreUnavailable
from cams_server.store.enablements import (
    EnablementRequest,
    EnablementWriter,
    enable_roi_metric,
    list_enablements,
)

ACCOUNT = "1000000000000001"
POISON = "cams-poison"  # the trigger below refuses this space's insert

SQLITE_TRIGGER = (
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON roi_enablements "
    f"WHEN NEW.space_id = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
)
POSTGRES_TRIGGER = (
    "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
    f"IF NEW.space_id = '{POISON}' THEN RAISE EXCEPTION 'poison refused'; END IF; "
    "RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON roi_enablements "
    "FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
)


def _poison(db: Database) -> None:
    statements = (SQLITE_TRIGGER,) if db.is_sqlite else POSTGRES_TRIGGER
    with db.transaction() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def _request(space: str, at_us: int = 1_700_000_000_000_000) -> EnablementRequest:
    return EnablementRequest(ACCOUNT, space, at_us, f"acs:ram::{ACCOUNT}:root")


def _stored(db: Database) -> set[str | None]:
    return {e.space_id for e in list_enablements(db)}


def test_one_loop_turn_is_one_transaction(database: Database) -> None:
    writer = EnablementWriter(database)

    async def enable_together() -> None:
        await asyncio.gather(*(writer.enable(_request(f"cams-{i}")) for i in range(20)))

    asyncio.run(enable_together())
    assert writer.batches == 1
    assert _stored(database) == {f"cams-{i}" for i in range(20)}


def test_a_failed_batch_fails_every_caller_in_it(database: Database) -> None:
    """One refused insert takes its batch-mates with it: all raise, none is stored, and
    the writer goes on with the next batch."""
    _poison(database)
    writer = EnablementWriter(database)

    async def enable_together() -> list[BaseException | None]:
        spaces = ["cams-a", POISON, "cams-b"]
        return await asyncio.gather(
            *(writer.enable(_request(space)) for space in spaces), return_exceptions=True
        )

    outcomes = asyncio.run(enable_together())
    assert writer.batches == 1
    assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes), outcomes
    assert _stored(database) == set()

    async def enable_alone() -> None:
        await writer.enable(_request("cams-a"))

    asyncio.run(enable_alone())
    assert _stored(database) == {"cams-a"}


def test_requests_arriving_while_a_batch_commits_form_the_next(database: Database) -> None:
    writer = EnablementWriter(database)

    async def two_turns() -> None:
        first = [asyncio.ensure_future(writer.enable(_request(f"a{i}"))) for i in range(5)]
        await asyncio.sleep(0)  # the first batch is written (or in flight) now
        second = [asyncio.ensure_future(writer.enable(_request(f"b{i}"))) for i in range(5)]
        await asyncio.gather(*first, *second)

    asyncio.run(two_turns())
    assert writer.batches == 2
    assert len(_stored(database)) == 10


def test_the_first_enablement_time_wins_within_and_across_batches(database: Database) -> None:
    writer = EnablementWriter(database)

    async def twice_in_one_batch() -> None:
        await asyncio.gather(
            writer.enable(_request("cams-x", at_us=1_000)),
            writer.enable(_request("cams-x", at_us=2_000)),
        )

    asyncio.run(twice_in_one_batch())
    later = enable_roi_metric(database, ACCOUNT, "cams-x", 3_000, "arn:later")
    assert later.enabled_at_us == 1_000


def test_a_lost_database_connection_is_replaced_for_the_batch(database: Database) -> None:
    """The call path writes through a connection of its own (`Database.write_directly`):
    when the database dropped it (a restart, a failover), the batch is written through a
    new one, as the pool's pre-ping would have done."""
    writer = EnablementWriter(database)
    asyncio.run(writer.enable(_request("cams-before")))
    if database.is_sqlite:
        pytest.skip("an SQLite file has no connection the server can lose")
    with database.transaction() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    asyncio.run(writer.enable(_request("cams-after")))
    assert _stored(database) == {"cams-before", "cams-after"}


def test_a_batch_is_one_statement_on_postgresql(database: Database) -> None:
    """However many enablements a batch holds, PostgreSQL gets one INSERT for it (its rows
    as one JSON parameter) on an autocommit connection: one round trip, not one a row."""
    if database.is_sqlite:
        pytest.skip("SQLite writes its batch in one transaction, in-process")
    statements: list[str] = []
    writer = EnablementWriter(database)
    asyncio.run(writer.enable(_request("cams-open")))  # opens the direct connection
    connection = database._direct_pg  # the call path's own (white box)
    assert connection is not None
    original = connection.execute

    def counting(query: object, *args: object, **kwargs: object) -> object:
        statements.append(str(query))
        return original(query, *args, **kwargs)  # type: ignore[arg-type]

    connection.execute = counting  # type: ignore[method-assign]

    async def enable_together() -> None:
        await asyncio.gather(*(writer.enable(_request(f"cams-{i}")) for i in range(25)))

    asyncio.run(enable_together())
    assert len(statements) == 1 and "json_array_elements" in statements[0]
    assert {f"cams-{i}" for i in range(25)} <= _stored(database)


def test_any_text_is_stored_as_sent(database: Database) -> None:
    """The batch goes to PostgreSQL as JSON: quotes, backslashes, non-ASCII and
    JSON-looking text come back exactly as they were sent."""
    odd = ['q"uote', "back\\slash", "ünïcödé-空间", '{"a": [1]}', "line\nbreak"]
    writer = EnablementWriter(database)

    async def enable_together() -> None:
        await asyncio.gather(*(writer.enable(_request(space)) for space in odd))

    asyncio.run(enable_together())
    assert set(odd) <= _stored(database)
