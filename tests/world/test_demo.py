"""The demo account: seeded for a first `make run`, never kept beside a world of one's own."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cams_server.cams.demo import DEMO_ACCOUNT_ID, settle_demo
from cams_server.store.database import Database
from cams_server.store.enablements import list_enablements
from cams_server.store.keyring import key_source
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.world.toml_file import load_world
from tests.cli_runner import run_cli

WORLDS = Path(__file__).parent.parent / "worlds"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'cams.db'}", key_source(tmp_path, environ={}))
    db.migrate()
    return db


def account_ids(db: Database) -> list[str]:
    return [a.id for a in load_world_from(db).accounts]


def test_an_empty_database_gets_the_demo(database: Database) -> None:
    assert settle_demo(database, None, False, time.time()) == "seeded the demo account"
    assert account_ids(database) == [DEMO_ACCOUNT_ID]
    assert settle_demo(database, None, False, time.time()) == ""  # kept on restart


def test_a_world_file_removes_the_demo_and_its_state(database: Database) -> None:
    settle_demo(database, None, False, time.time())
    assert any(e.account_id == DEMO_ACCOUNT_ID for e in list_enablements(database))
    apply_world(database, load_world(WORLDS / "rich.toml"), "rich.toml")
    done = settle_demo(database, None, True, time.time())
    assert "removed the demo account" in done and "--demo" in done
    assert DEMO_ACCOUNT_ID not in account_ids(database)
    assert not any(e.account_id == DEMO_ACCOUNT_ID for e in list_enablements(database))


def test_other_accounts_remove_the_demo_even_without_a_world_file(database: Database) -> None:
    settle_demo(database, None, False, time.time())
    apply_world(database, load_world(WORLDS / "rich.toml"), "rich.toml")
    settle_demo(database, None, False, time.time())
    assert DEMO_ACCOUNT_ID not in account_ids(database)


def test_asked_for_it_is_kept_beside_a_world(database: Database) -> None:
    apply_world(database, load_world(WORLDS / "rich.toml"), "rich.toml")
    assert settle_demo(database, True, True, time.time()) == "seeded the demo account"
    assert DEMO_ACCOUNT_ID in account_ids(database)
    assert settle_demo(database, True, True, time.time()) == ""


def test_no_demo_removes_it_and_never_seeds(database: Database) -> None:
    assert settle_demo(database, False, False, time.time()) == ""
    assert account_ids(database) == []
    settle_demo(database, True, False, time.time())
    settle_demo(database, False, False, time.time())
    assert account_ids(database) == []


def _serve(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cams_server.cli", "serve", "--port", "0", *args],
        env={**os.environ, "CAMS_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "no output within 30 s"
    line = process.stdout.readline()
    assert "listening on" in line, line
    return process, line.rsplit(" ", 1)[1].strip()


def test_serve_with_a_world_neither_prints_nor_offers_demo_keys(tmp_path: Path) -> None:
    first, _ = _serve(tmp_path)  # a first `make run`: the demo is seeded
    first.terminate()
    first.communicate(timeout=15)
    process, url = _serve(tmp_path, "--world", str(WORLDS / "rich.toml"))
    try:
        explorer = httpx.get(f"{url}/explorer").text
        assert "LTAI5tDemo" not in explorer
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert "LTAI5tDemo" not in out
    assert "removed the demo account" in err


def test_a_live_world_apply_removes_the_demo_and_the_explorer_stops_offering_it(
    tmp_path: Path,
) -> None:
    """`world apply` of a file with accounts of its own, while serving: the demo keys go
    (they were printed, and the Explorer offers them to anyone)."""
    process, url = _serve(tmp_path)
    try:
        assert "LTAI5tDemo" in httpx.get(f"{url}/explorer").text
        applied = run_cli(tmp_path, "world", "apply", str(WORLDS / "rich.toml"))
        assert applied.returncode == 0, applied.stderr
        assert "removed the demo account" in applied.stderr
        deadline = time.monotonic() + 5
        while "LTAI5tDemo" in httpx.get(f"{url}/explorer").text:
            assert time.monotonic() < deadline, "the running server still offers demo keys"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_the_explorer_offers_demo_keys_only_while_the_demo_is_alone() -> None:
    from cams_server.cams.demo import demo_world
    from cams_server.explorer import demo_keys_of

    alone = demo_world()
    assert demo_keys_of(alone)
    with_others = load_world(WORLDS / "rich.toml")
    both = type(alone)(accounts=alone.accounts + with_others.accounts)
    assert demo_keys_of(both) == []
