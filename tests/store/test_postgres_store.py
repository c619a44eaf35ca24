"""The PostgreSQL store: the same schema as SQLite, the world, enablements, and the CLI on it.

Every test runs on `postgres_url`, a fresh empty PostgreSQL database dropped afterwards
(skipped where PostgreSQL is not running, a failure under CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cams_server.store.database import DIAGNOSTIC_KEY, STS_KEY, Database
from cams_server.store.enablements import Enablement, enable_roi_metric, list_enablements
from cams_server.store.keyring import KeySource, key_source
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.world.toml_file import load_world, parse_world

CLI = [sys.executable, "-m", "cams_server.cli"]
ACME = "1000000000000001"
GLOBEX = "2000000000000002"
THREADS = 8
# The fields `roi list` promises (contract section 3); later versions may add more.
LISTED = ("account_id", "space_id", "enabled_at", "enabled_by")


def _listed(item: dict[str, Any]) -> dict[str, Any]:
    assert set(LISTED) <= set(item), item
    return {key: item[key] for key in LISTED}


def _schema(url: str) -> dict[str, set[str]]:
    """Table name -> column names, as the database reports them."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        inspector = sa.inspect(engine)
        return {
            table: {column["name"] for column in inspector.get_columns(table)}
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def _indexed_columns(url: str) -> dict[str, set[tuple[str, ...]]]:
    """Table name -> the column tuples of its primary key, unique constraints and indexes."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        inspector = sa.inspect(engine)
        out: dict[str, set[tuple[str, ...]]] = {}
        for table in inspector.get_table_names():
            keys = {tuple(inspector.get_pk_constraint(table)["constrained_columns"])}
            keys |= {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
            keys |= {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
            out[table] = keys
        return out
    finally:
        engine.dispose()


@pytest.fixture
def master_key(tmp_path: Path) -> KeySource:
    """A key file of its own for each test (CAMS_MASTER_KEY of the environment ignored)."""
    return key_source(tmp_path / "keys", environ={})


@pytest.fixture
def pg(postgres_url: str, master_key: KeySource) -> Iterator[Database]:
    database = Database(postgres_url, master_key)
    database.migrate()
    yield database
    database.dispose()


def test_migrations_create_the_same_schema_as_sqlite(postgres_url: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'cams.db'}"
    for url in (sqlite_url, postgres_url):
        database = Database(url)
        database.migrate()
        database.dispose()
    sqlite_schema = _schema(sqlite_url)
    postgres_schema = _schema(postgres_url)
    assert set(postgres_schema) == set(sqlite_schema)
    assert {"roi_enablements", "world_accounts", "guard_nonces"} <= set(postgres_schema)
    assert postgres_schema == sqlite_schema  # the same columns in every table too
    # The uniqueness the enablement relies on (one row per account and space) exists on both.
    for schema in (_indexed_columns(sqlite_url), _indexed_columns(postgres_url)):
        assert ("account_id", "space_id") in schema["roi_enablements"]


def test_migrate_is_idempotent_and_safe_from_concurrent_processes(
    postgres_url: str, master_key: KeySource
) -> None:
    """Eight fresh Database objects migrating an empty database at once: one schema, one
    master key file, one seal, one key set (the deployment-wide secrets are made once and
    every process reads the same)."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    keys: list[tuple[bytes, bytes]] = []
    lock = threading.Lock()

    def run() -> None:
        database = Database(postgres_url, master_key)
        try:
            barrier.wait(10)
            database.migrate()
            pair = (database.secret_key(STS_KEY), database.secret_key(DIAGNOSTIC_KEY))
            with lock:
                keys.append(pair)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(keys) == THREADS
    assert len(set(keys)) == 1
    again = Database(postgres_url, master_key)
    try:
        again.migrate()  # a second run over a migrated database changes nothing
        assert (again.secret_key(STS_KEY), again.secret_key(DIAGNOSTIC_KEY)) == keys[0]
    finally:
        again.dispose()


def test_world_round_trips(pg: Database, rich_world: Path) -> None:
    world = load_world(rich_world)
    assert load_world_from(pg).accounts == ()
    version = pg.world_version()
    apply_world(pg, world, str(rich_world))
    assert load_world_from(pg) == world
    assert pg.world_version() == version + 1
    # Applying it again is idempotent (a new version, the same world).
    apply_world(pg, world, str(rich_world))
    assert load_world_from(pg) == world
    assert pg.world_version() == version + 2


def test_world_apply_replaces_declared_accounts_only(pg: Database, rich_world: Path) -> None:
    world = load_world(rich_world)
    apply_world(pg, world, str(rich_world))
    smaller = parse_world(
        f"""
[[accounts]]
id = "{GLOBEX}"
name = "globex-renamed"
cams = false
""",
        "<smaller>",
    )
    apply_world(pg, smaller, "<smaller>")
    stored = {a.id: a for a in load_world_from(pg).accounts}
    assert stored[GLOBEX].name == "globex-renamed"
    assert stored[GLOBEX].cams is False
    assert stored[GLOBEX].access_keys == ()
    original = {a.id: a for a in world.accounts}
    assert stored[ACME] == original[ACME]


def test_enable_is_idempotent_and_keeps_the_first_time(pg: Database) -> None:
    first = enable_roi_metric(pg, ACME, "cams-acme-main", 1_700_000_000_000_001, "arn:first")
    assert first == Enablement(ACME, "cams-acme-main", 1_700_000_000_000_001, "arn:first")
    # A later repeat, and even one claiming an earlier time, return the stored first one.
    later = enable_roi_metric(pg, ACME, "cams-acme-main", 1_700_000_000_500_000, "arn:later")
    earlier = enable_roi_metric(pg, ACME, "cams-acme-main", 1_600_000_000_000_000, "arn:early")
    assert later == first
    assert earlier == first
    # The account-wide one (no space) is a separate row with space_id None.
    wide = enable_roi_metric(pg, ACME, None, 1_700_000_000_900_000, "arn:root")
    assert wide.space_id is None
    assert enable_roi_metric(pg, ACME, None, 1_800_000_000_000_000, "arn:x") == wide
    assert list_enablements(pg) == [first, wide]
    assert _listed(first.to_json()) == {
        "account_id": ACME,
        "space_id": "cams-acme-main",
        "enabled_at": "2023-11-14T22:13:20.000001Z",
        "enabled_by": "arn:first",
    }
    assert wide.to_json()["space_id"] is None


def test_concurrent_enable_from_separate_databases_keeps_one_row(pg: Database) -> None:
    """Eight threads, each with its own engine (as eight processes would have), enable the
    same space at once with distinct times: one row, and every caller gets that row."""
    barrier = threading.Barrier(THREADS)
    results: dict[int, Enablement] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        database = Database(pg.url)
        try:
            with database.transaction() as conn:  # open the pool's connection before the race
                conn.execute(sa.text("SELECT 1"))
            barrier.wait(10)
            got = enable_roi_metric(database, GLOBEX, "cams-globex-main", 1_000 + i, f"arn:{i}")
            with lock:
                results[i] = got
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == THREADS
    stored = list_enablements(pg)
    assert len(stored) == 1
    (row,) = stored
    # The first committed insert wins; which thread that was is up to the scheduler, but
    # the row is exactly one caller's (time and ARN together), and everyone was told it.
    assert (row.enabled_at_us, row.enabled_by) in {(1_000 + i, f"arn:{i}") for i in range(THREADS)}
    assert set(results.values()) == {row}
    with pg.transaction() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM roi_enablements")).scalar()
    assert count == 1


# -- the command line on PostgreSQL -----------------------------------------------------------


def _cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CLI + args,
        env={**os.environ, "CAMS_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_world_apply_export_and_roi_list(
    postgres_url: str, rich_world: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    applied = _cli(["world", "apply", str(rich_world), "--database", postgres_url], home)
    assert applied.returncode == 0, applied.stderr
    assert "3 account(s)" in applied.stdout

    exported = _cli(["world", "export", "--database", postgres_url], home)
    assert exported.returncode == 0, exported.stderr
    assert parse_world(exported.stdout, "<export>") == load_world(rich_world)

    database = Database(postgres_url)
    try:
        enable_roi_metric(database, ACME, "cams-acme-main", 1_700_000_000_000_000, "arn:a")
        enable_roi_metric(database, ACME, None, 1_700_000_001_000_000, "arn:b")
    finally:
        database.dispose()
    listed = _cli(["roi", "list", "--database", postgres_url], home)
    assert listed.returncode == 0, listed.stderr
    assert [_listed(json.loads(line)) for line in listed.stdout.splitlines()] == [
        {
            "account_id": ACME,
            "space_id": "cams-acme-main",
            "enabled_at": "2023-11-14T22:13:20.000000Z",
            "enabled_by": "arn:a",
        },
        {
            "account_id": ACME,
            "space_id": None,
            "enabled_at": "2023-11-14T22:13:21.000000Z",
            "enabled_by": "arn:b",
        },
    ]
    # Nothing went to the embedded SQLite file: the URL really selected PostgreSQL.
    assert not (home / "cams.db").exists()


def test_cli_takes_the_database_from_the_environment(
    postgres_url: str, rich_world: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {"CAMS_DATABASE_URL": postgres_url}
    applied = _cli(["world", "apply", str(rich_world)], home, **env)
    assert applied.returncode == 0, applied.stderr
    exported = _cli(["world", "export"], home, **env)
    assert exported.returncode == 0, exported.stderr
    assert parse_world(exported.stdout, "<export>") == load_world(rich_world)
    assert _cli(["roi", "list"], home, **env).stdout == ""
    assert not (home / "cams.db").exists()
    database = Database(postgres_url, key_source(home, environ={}))
    try:
        assert load_world_from(database) == load_world(rich_world)
    finally:
        database.dispose()


def test_concurrent_world_apply_from_separate_databases(
    pg: Database, rich_world: Path, master_key: KeySource
) -> None:
    """Replicas of one deployment all start with `--world`: each applies the same file at
    about the same moment. Applying is idempotent, so every one must succeed."""
    world = load_world(rich_world)
    apply_world(pg, world, str(rich_world))
    errors: list[str] = []
    for _round in range(3):
        barrier = threading.Barrier(THREADS)

        def run(barrier: threading.Barrier = barrier) -> None:
            database = Database(pg.url, master_key)
            try:
                with database.transaction() as conn:
                    conn.execute(sa.text("SELECT 1"))
                barrier.wait(10)
                apply_world(database, world, str(rich_world))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            finally:
                database.dispose()

        threads = [threading.Thread(target=run) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert load_world_from(pg) == world
    assert errors == []
