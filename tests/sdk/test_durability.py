"""An enablement answered with OK survives the server being SIGKILLed right after."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cams_server.testing import CamsServer
from tests.cli_runner import run_cli
from tests.sdk.clients import enable, v3_client

ACME = "1000000000000001"


@contextmanager
def process_server(**kwargs: Any) -> Iterator[CamsServer]:
    """`CamsServer(mode="process")`, also closing the child's stdout pipe, which the helper
    leaves open (see test_process_mode_closes_its_stdout_pipe) and which would otherwise
    surface as a ResourceWarning, an error under this suite's warning filters."""
    server = CamsServer(mode="process", **kwargs)
    server.start()
    pipe = server._process.stdout  # type: ignore[union-attr]
    try:
        yield server
    finally:
        server.stop()
        if pipe is not None:
            pipe.close()


def roi_list(home: Path) -> list[str]:
    result = run_cli(home, "roi", "list")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_enablement_survives_sigkill(rich_world: Path, tmp_path: Path) -> None:
    home = tmp_path
    with process_server(world=rich_world, home=home) as server:
        before = time.time()
        body = enable(v3_client(server.endpoint, "alice"), "cams-acme-main")
        after = time.time()
        server.kill()  # SIGKILL right after OK: no shutdown hook, no flush
    assert body["Code"] == "OK"

    # Restarted with no world: accounts, keys and enablements all come from the database.
    with process_server(home=home) as restarted:
        (entry,) = restarted.enablements()
        assert {"account_id", "space_id", "enabled_at", "enabled_by"} <= set(entry)
        assert entry["account_id"] == ACME
        assert entry["space_id"] == "cams-acme-main"
        assert entry["enabled_by"] == f"acs:ram::{ACME}:user/alice"
        assert entry["enabled_at"].endswith("Z")
        enabled_at = datetime.fromisoformat(entry["enabled_at"]).timestamp()
        assert before - 0.001 <= enabled_at <= after + 0.001
        # A repeat keeps the first time; a new account-wide enablement is added.
        assert enable(v3_client(restarted.endpoint, "olga"), "cams-acme-main")["Code"] == "OK"
        assert enable(v3_client(restarted.endpoint, "acme-root"))["Code"] == "OK"
        restarted.kill()

    lines = roi_list(home)
    assert len(lines) == 2
    listed = [json.loads(line) for line in lines]
    for item in listed:
        assert {"account_id", "space_id", "enabled_at", "enabled_by"} <= set(item)
        assert item["enabled_at"].endswith("Z")
    by_space = {item["space_id"]: item for item in listed}
    assert by_space["cams-acme-main"] == entry
    assert by_space[None]["account_id"] == ACME
    assert by_space[None]["enabled_by"] == f"acs:ram::{ACME}:root"
    assert by_space[None]["enabled_at"] > entry["enabled_at"]


# Four calls of ACME's root and two of Globex's, under each account's five a second.
BURST = [
    ("acme-root", "cams-acme-main"),
    ("acme-root", "cams-acme-cust-1"),
    ("acme-root", "cams-acme-cust-2"),
    ("acme-root", None),
    ("globex-root", "cams-globex-main"),
    ("globex-root", None),
]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_burst_of_enablements_survives_sigkill(
    store: str, rich_world: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Concurrent first-time calls share group commits: every one answered OK is on disk
    when the server is killed right after the last answer."""
    database = None if store == "sqlite" else request.getfixturevalue("postgres_url")
    with process_server(world=rich_world, home=tmp_path, database=database) as server:
        with ThreadPoolExecutor(len(BURST)) as pool:
            bodies = list(
                pool.map(lambda call: enable(v3_client(server.endpoint, call[0]), call[1]), BURST)
            )
        server.kill()
    assert [body["Code"] for body in bodies] == ["OK"] * len(BURST)
    with process_server(home=tmp_path, database=database) as restarted:
        stored = {(e["account_id"], e["space_id"]) for e in restarted.enablements()}
        restarted.kill()
    owners = {"acme-root": ACME, "globex-root": "2000000000000002"}
    assert stored == {(owners[who], space) for who, space in BURST}


def test_process_mode_closes_its_stdout_pipe(tmp_path: Path) -> None:
    server = CamsServer(mode="process", home=tmp_path)
    server.start()
    pipe = server._process.stdout  # type: ignore[union-attr]
    assert pipe is not None
    try:
        server.stop()
        assert pipe.closed
    finally:
        pipe.close()


def test_process_mode_creates_a_missing_home(tmp_path: Path) -> None:
    home = tmp_path / "not-yet"
    with process_server(home=home) as server:
        assert server.enablements() == []
    assert (home / "cams.db").exists()
