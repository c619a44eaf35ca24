"""The WAL checkpoints of the connections that commit on the event loop (store/wal.py).

SQLite checkpoints in the commit that takes the WAL past 1,000 pages, so the first-time
write and the shared call guard used to stall the event loop for each checkpoint. They
now leave checkpoints to a `WalCheckpointer`'s thread, which must still start the WAL over
while writes go on, and leave every commit in the database file when it closes.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from cams_server.gateway.guard import FlowRequest
from cams_server.gateway.sqlite_guard import SqliteGuard
from cams_server.rpc.caller import NonceClaim
from cams_server.store.database import Database
from cams_server.store.enablements import EnablementRequest, enable_roi_metrics
from cams_server.store.schema import roi_enablements
from cams_server.store.wal import WalCheckpointer

ACCOUNT = "1000000000000001"
NOW = 1_900_000_000.0
SQLITE_AUTOCHECKPOINT = 1_000  # pages: SQLite's default, where it checkpoints in the commit
WAL_HEADER, WAL_FRAME = 32, 24 + 4096  # a frame is a header and one 4 KiB page


def wal_frames(path: Path) -> int:
    """How many pages the WAL file has room for: the most it held since it was created,
    since SQLite writes a WAL that starts over from its beginning."""
    wal = path.with_name(path.name + "-wal")
    return (wal.stat().st_size - WAL_HEADER) // WAL_FRAME if wal.exists() else 0


def migrated(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'cams.db'}")
    db.migrate()
    return db


def enable(db: Database, first: int, count: int) -> None:
    for i in range(first, first + count):
        enable_roi_metrics(db, [EnablementRequest(ACCOUNT, f"space-{i:06d}", i, "test")])


def admit(guard: SqliteGuard, first: int, count: int) -> None:
    async def calls() -> None:
        for i in range(first, first + count):
            nonce = NonceClaim("LTAIcheckpoint", f"{i:032x}", NOW + 900)
            admission = await guard.admit(nonce, FlowRequest(f"account-{i}:Op", 5), NOW)
            assert admission.admitted

    asyncio.run(calls())


# Writes `count` commits through one of the connections that commit on the event loop
# (the first-time write, the shared call guard) and returns how to close it.
Writer = Callable[[Path, WalCheckpointer, int], Callable[[], object]]


def enablement_writer(tmp_path: Path, wal: WalCheckpointer, count: int) -> Callable[[], object]:
    db = migrated(tmp_path)
    db.wal = wal  # before its first write, which hands its connection over
    enable(db, 0, count)
    return db.dispose


def guard_writer(tmp_path: Path, wal: WalCheckpointer, count: int) -> Callable[[], object]:
    migrated(tmp_path).dispose()
    guard = SqliteGuard(tmp_path / "cams.db", wal)
    admit(guard, 0, count)
    return lambda: asyncio.run(guard.close())


def sqlalchemy_writer(tmp_path: Path, wal: WalCheckpointer, count: int) -> Callable[[], object]:
    """`Database.run` runs store functions inline on SQLite: the webhook's ingestion, the
    admin API's writes."""
    db = Database(f"sqlite:///{tmp_path / 'cams.db'}")
    db.wal = wal  # before its first connection, which is handed over
    db.migrate()
    for i in range(count):
        with db.transaction() as conn:
            conn.execute(
                roi_enablements.insert().values(
                    account_id=ACCOUNT, space_id=f"s-{i}", enabled_at_us=i, enabled_by="t"
                )
            )
    return db.dispose


@pytest.mark.parametrize(
    "writer",
    [enablement_writer, guard_writer, sqlalchemy_writer],
    ids=["first-time-write", "guard", "sqlalchemy"],
)
def test_commits_on_the_event_loop_never_checkpoint_themselves(
    tmp_path: Path, writer: Writer
) -> None:
    """With the checkpointer held off, the WAL grows past SQLite's 1,000 pages: no commit
    checkpointed (one would have started the WAL over at about 1,000)."""
    wal = WalCheckpointer(tmp_path / "cams.db", pause=3600)
    close = writer(tmp_path, wal, 1_500)
    assert wal_frames(tmp_path / "cams.db") > 1.5 * SQLITE_AUTOCHECKPOINT
    assert wal.checkpoints == 0
    wal.close()
    assert wal.checkpoints == 1  # the last one, at close
    close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = migrated(tmp_path)
    yield database
    database.dispose()


def test_the_checkpointer_starts_the_wal_over_while_writes_go_on(
    tmp_path: Path, db: Database
) -> None:
    """A writer that commits every fraction of a millisecond (the event loop under load)
    never begins while every frame is copied, so PASSIVE checkpoints alone would let the
    WAL grow for ever; the checkpointer's RESTART starts it over."""
    db.wal = WalCheckpointer(tmp_path / "cams.db", pause=0.005, restart_frames=300)
    for i in range(1_500):
        enable(db, i, 1)
        time.sleep(0.0002)
    assert db.wal.restarts >= 1
    assert wal_frames(tmp_path / "cams.db") < 3 * 300


def test_back_to_back_commits_keep_the_wal_bounded(tmp_path: Path, db: Database) -> None:
    """Commits with no gap at all leave a RESTART no moment to start the WAL over; then the
    writers' own checkpoint, at twice the threshold, does (3,000 commits wrote more than
    4,500 pages: more than 1.5 a commit, as the first test shows)."""
    db.wal = WalCheckpointer(tmp_path / "cams.db", pause=0.005, restart_frames=300)
    enable(db, 0, 3_000)
    assert wal_frames(tmp_path / "cams.db") < 5 * 300


def test_the_checkpointer_starts_again_after_close(tmp_path: Path, db: Database) -> None:
    db.wal = WalCheckpointer(tmp_path / "cams.db", pause=0.001)
    enable(db, 0, 10)
    db.wal.close()
    first = db.wal.checkpoints
    enable(db, 10, 10)
    deadline = time.monotonic() + 10
    while db.wal.checkpoints == first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.wal.checkpoints > first


def test_after_close_the_database_file_alone_holds_every_commit(
    tmp_path: Path, db: Database
) -> None:
    enable(db, 0, 300)
    assert db.wal is not None
    db.wal.close()
    # A copy of the database file without its WAL: what a checkpoint has copied back.
    shutil.copy(tmp_path / "cams.db", tmp_path / "copy.db")
    with closing(sqlite3.connect(tmp_path / "copy.db")) as copy:
        (count,) = copy.execute("SELECT COUNT(*) FROM roi_enablements").fetchone()
    assert count == 300


def test_the_thread_starts_with_the_first_write_and_ends_with_dispose(tmp_path: Path) -> None:
    def running() -> bool:
        name = f"wal-checkpoints:{tmp_path / 'cams.db'}"
        return any(t.name == name for t in threading.enumerate())

    db = Database(f"sqlite:///{tmp_path / 'cams.db'}")
    assert not running()
    db.migrate()  # writes
    assert running()
    db.dispose()
    assert not running()


def test_a_checkpointer_that_cannot_open_its_database_logs_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wal = WalCheckpointer(tmp_path / "no-such-directory" / "cams.db", pause=0.001)
    wal.wrote()
    deadline = time.monotonic() + 10
    while "cannot open it" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "cannot open it" in caplog.text
    wal.wrote()  # never raises: its caller has committed
    wal.close()
    assert wal.checkpoints == 0


def test_a_write_when_no_thread_can_start_still_succeeds(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert db.wal is not None
    db.wal.close()

    def refuse(_thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refuse)
        enable(db, 0, 1)  # committed and answered, though no checkpoint thread started
    assert "cannot start" in caplog.text
    checkpoints = db.wal.checkpoints
    enable(db, 1, 1)  # the next write starts it
    deadline = time.monotonic() + 10
    while db.wal.checkpoints == checkpoints and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.wal.checkpoints > checkpoints


def test_reads_start_no_thread(tmp_path: Path) -> None:
    """A transaction that changed nothing has nothing to checkpoint: a process that only
    reads (the world's version, every half second) leaves the thread unstarted."""
    migrated(tmp_path).dispose()
    db = Database(f"sqlite:///{tmp_path / 'cams.db'}")
    name = f"wal-checkpoints:{tmp_path / 'cams.db'}"
    for _ in range(3):
        with db.transaction() as conn:
            conn.execute(roi_enablements.select()).all()
    assert not any(t.name == name for t in threading.enumerate())
    enable(db, 0, 1)
    assert any(t.name == name for t in threading.enumerate())
    db.dispose()
