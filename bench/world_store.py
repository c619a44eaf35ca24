"""The world repository at scale: `apply_world` and `load_world_from` of 10,000 accounts.

    PYTHONPATH=src .venv/bin/python bench/world_store.py [--accounts 10000] [DATABASE ...]

Each account has a root AccessKey, a RAM user with an AccessKey and a policy, a role
with that policy, two spaces and an ISV code. For each DATABASE (`sqlite`, the default
PostgreSQL admin URL, or `postgresql://...`), a fresh database is migrated and the world
is applied into it empty (*apply*), applied again over itself (*re-apply*: every account
is replaced, the usual `world apply`), and loaded (*load*, the best of `--loads`, as
every server does at start and at every world change). The world is built and validated
in Python, outside the timings: what is measured is the repository alone.

It measures the `cams_server` it imports; to measure another commit, check it out beside
this tree and run this script with `PYTHONPATH=<that tree>/src`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from cams_server.model.world import (
    AccessKeySpec,
    AccountSpec,
    IsvCodeSpec,
    PolicySpec,
    RoleSpec,
    SpaceSpec,
    UserSpec,
    World,
)
from cams_server.store.database import Database
from cams_server.store.keyring import KeySource, MasterKey
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.world.validation import validate_world

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
POLICY = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:EnableWhatsappROIMetric",'
    '"Resource":"*"}]}'
)


def trust(account_id: str) -> str:
    return (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
        f'"Principal":{{"RAM":["acs:ram::{account_id}:root"]}}}}]}}'
    )


def account(i: int) -> AccountSpec:
    a_id = f"{1_000_000_000_000_000 + i}"
    return AccountSpec(
        id=a_id,
        name=f"bench{i}",
        access_keys=(AccessKeySpec(f"LTAI5tRoot{i:010d}", f"root-secret-{i}"),),
        policies=(PolicySpec("RoiOnly", POLICY),),
        users=(
            UserSpec(
                "alice",
                policies=("RoiOnly",),
                access_keys=(AccessKeySpec(f"LTAI5tUser{i:010d}", f"user-secret-{i}"),),
            ),
        ),
        roles=(RoleSpec("roi-operator", trust(a_id), ("RoiOnly",)),),
        spaces=(SpaceSpec(f"cams-{i}-main", waba_id=f"{i}"), SpaceSpec(f"cams-{i}-other")),
        isv_codes=(
            IsvCodeSpec(
                f"isv-code-{i}",
                "alice",
                (f"cams-{i}-main",),
                datetime(2030, 1, 1, tzinfo=UTC),
            ),
        ),
    )


def world(accounts: int) -> World:
    built = World(accounts=tuple(account(i) for i in range(accounts)))
    validate_world(built, "<bench>")
    return built


@contextmanager
def fresh_database(target: str, home: Path) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file in `home`, or a PostgreSQL database
    created next to the `target` URL (never written to) and dropped afterwards."""
    key = KeySource(text=MasterKey.generate().text())
    if target == "sqlite":
        db = Database(f"sqlite:///{home / 'cams.db'}", key)
        try:
            db.migrate()
            yield db
        finally:
            db.dispose()
        return
    admin = sa.create_engine(
        target.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    name = f"cams_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db = Database(f"{target.rsplit('/', 1)[0]}/{name}", key)
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(target: str, declared: World, loads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home, fresh_database(target, Path(home)) as db:
        apply = timed(lambda: apply_world(db, declared, "<bench>"))
        reapply = timed(lambda: apply_world(db, declared, "<bench>"))
        load = min(timed(lambda: load_world_from(db)) for _ in range(loads))
        assert load_world_from(db) == declared, "the world does not load as it was applied"
    return {"apply": apply, "re-apply": reapply, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("databases", nargs="*", default=["sqlite", POSTGRES])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=3, help="loads timed (the best is shown)")
    args = parser.parse_args()
    declared = world(args.accounts)
    print(f"{args.accounts} accounts; seconds (load: best of {args.loads})")
    print(f"{'database':<12} {'apply':>8} {'re-apply':>9} {'load':>8}")
    for target in args.databases:
        times = measure(target, declared, args.loads)
        label = "sqlite" if target == "sqlite" else "postgresql"
        print(
            f"{label:<12} {times['apply']:>8.2f} {times['re-apply']:>9.2f} {times['load']:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
