"""The SQLite write-ahead log's checkpoints, run in a thread of their own.

SQLite copies the WAL back into the database file (a checkpoint: the pages written back
and two fsyncs) in whichever connection's commit took the WAL past `wal_autocheckpoint`
pages, inside that commit. On the embedded default the connections that commit on every
call (the first-time write, the shared call guard) commit on the event loop's thread, so
each checkpoint stalled every connection of the process: 7-9 ms, about three times a
second under load (bench/README.md). Those connections are handed over (`hand_over`)
and tell a `WalCheckpointer` when they committed; it checkpoints in its own thread, on its
own connection, while the loop goes on (the sqlite3 module releases the GIL while SQLite
works).

A checkpoint in another thread cannot by itself let the WAL start over: SQLite starts it
over only when a writer begins while every frame has been copied, and a writer that
commits every few milliseconds always has frames the last checkpoint missed. So, as
Litestream does, most checkpoints are PASSIVE (they never wait for, or block, a writer),
and once the WAL holds `RESTART_FRAMES` pages one is a RESTART: it waits for the writer of
the moment, copies the few frames the PASSIVE ones left, and starts the WAL over, holding
the writers back for that long (a millisecond or two, every few seconds under load,
against 7-9 ms three times a second before). The connections handed over keep an
automatic checkpoint of their own at twice that size, in case this thread cannot keep up.

Nothing about durability changes: a commit is in the WAL file when it returns, whether or
not a checkpoint has copied it since, and a checkpoint that fails or has not run yet loses
nothing. It only lets the WAL grow, as SQLite's own checkpoints do when a reader holds
them back; the next one that succeeds lets the writers start the WAL over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["CHECKPOINT_PAUSE_SECONDS", "RESTART_FRAMES", "WalCheckpointer"]

log = logging.getLogger("cams_server")

# How long the checkpointer gathers commits before it checkpoints them: at most a few
# checkpoints a second under load (SQLite's own threshold, 1,000 pages, came to about
# three), one soon after a lone write.
CHECKPOINT_PAUSE_SECONDS = 0.25
# The WAL's size, in pages, at which a checkpoint starts it over (about 40 MB of 4 KiB
# pages; Litestream's default): a bigger WAL costs reads a longer index and disk space.
RESTART_FRAMES = 10_000


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite database at `path` after commits it is told of.

    Its thread starts at the first `wrote()`, so a process that never writes through it
    (a CLI command, a process about to fork its workers) has none; `close()` runs a last
    checkpoint and ends it, and a write after that starts another.
    """

    def __init__(
        self,
        path: Path,
        pause: float = CHECKPOINT_PAUSE_SECONDS,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self._path = path
        self._pause = pause
        self._restart_frames = restart_frames
        self._wrote = threading.Event()
        self._closing = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # completed, for tests and benchmarks
        self.restarts = 0  # of those, the ones that started the WAL over

    def hand_over(self, conn: sqlite3.Connection) -> None:
        """Make `conn`'s commits leave checkpoints to this checkpointer (but for a WAL
        twice the size it starts over at: this thread has fallen behind)."""
        conn.execute(f"PRAGMA wal_autocheckpoint={2 * self._restart_frames}")

    def wrote(self) -> None:
        """A connection handed over with `hand_over` committed a write."""
        if self._wrote.is_set():  # a checkpoint is already due: the call path's usual case
            return
        if self._thread is None:
            self._start()
        self._wrote.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"wal-checkpoints:{self._path.name}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            # Never waits for a lock: a RESTART that finds the writer or a reader busy
            # would otherwise hold the checkpoint lock while it waits, and the writers'
            # own checkpoints could not run meanwhile. It is tried again next time.
            conn.execute("PRAGMA busy_timeout=0")
            while True:
                self._wrote.wait()
                closing = self._closing.wait(self._pause)  # gather the next commits too
                self._wrote.clear()
                self._checkpoint(conn)
                if closing:
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            # PASSIVE: copy what no reader still needs, never wait on a reader or writer.
            # fetchall() ends each statement, so this connection holds no read snapshot
            # that would keep the WAL from starting over.
            ((_, frames, _),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if frames >= self._restart_frames:
                ((busy, _, _),) = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                self.restarts += busy == 0
        except sqlite3.Error as exc:  # logged and tried again after the next commit
            log.warning("a checkpoint of %s failed: %s", self._path.name, exc)
            return
        self.checkpoints += 1

    def close(self) -> None:
        """Checkpoint what was committed and stop the thread (if it ever started)."""
        with self._start_lock:
            self._closing.set()
            thread, self._thread = self._thread, None
        if thread is not None:
            self._wrote.set()
            thread.join()
        self._wrote.clear()
        self._closing.clear()
