"""The SQLite write-ahead log's checkpoints, run in a thread of their own.

SQLite copies the WAL back into the database file (a checkpoint: the pages written back
and two fsyncs) in whichever connection's commit took the WAL past `wal_autocheckpoint`
pages, inside that commit. On the embedded default the first-time write and the shared
call guard commit on the event loop's thread on every call (and `Database.run` runs the
other writes there too), so each checkpoint stalled every connection of the process: 7-9
ms, about three times a second under load (bench/README.md). Every connection of a
`Database` and of the SQLite guard is handed over (`hand_over`) and tells a
`WalCheckpointer` when it committed a change; the checkpointer checkpoints in its own
thread, on its own connection, while the loop goes on (the sqlite3 module releases the GIL
while SQLite works).

A checkpoint in another thread cannot by itself let the WAL start over: SQLite starts it
over only when a writer begins while every frame has been copied, and a writer that
commits every millisecond always has frames the last checkpoint missed. So, as Litestream
does, most checkpoints are PASSIVE (they never wait for, or block, a writer), and once the
WAL holds `RESTART_FRAMES` pages one is a RESTART: when no writer is in a transaction, it
copies the few frames the PASSIVE ones left and starts the WAL over, holding the writers
back meanwhile (under load a stall of about 10 ms every few seconds, SQLite's busy handler
included, against 7-9 ms three times a second before). A RESTART that finds a writer or a
reader busy is tried again next time. The connections handed over keep an automatic
checkpoint of their own at twice that size, in case this thread cannot keep up.

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

    Its thread starts at the first `wrote()`, so a process that never writes (a process
    about to fork its workers, once it disposed its database) has none; `close()` runs a
    last checkpoint and ends it, and a write after that starts another. A thread that ended
    for any reason is started again by the next write; `wrote()` itself never raises, since
    its caller has committed. A checkpointer serves the process that made it: a forked
    worker opens its own database (each builds its own `ServerState`).
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
        self._wrote = threading.Event()  # cleared by the thread as it takes a checkpoint up
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None  # set and cleared under _start_lock
        self._stop: threading.Event | None = None  # the running thread's
        self.checkpoints = 0  # completed, for tests and benchmarks
        self.restarts = 0  # of those, the ones that started the WAL over

    def hand_over(self, conn: sqlite3.Connection) -> None:
        """Make `conn`'s commits leave checkpoints to this checkpointer (but for a WAL
        twice the size it starts over at: this thread has fallen behind)."""
        conn.execute(f"PRAGMA wal_autocheckpoint={2 * self._restart_frames}")

    def wrote(self) -> None:
        """A connection handed over with `hand_over` committed a write."""
        if self._wrote.is_set() and self._thread is not None:
            return  # a checkpoint is already due: the call path's usual case
        if self._thread is None:
            self._start()
        self._wrote.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(stop,), name=f"wal-checkpoints:{self._path}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to be had: the next write tries again
                log.warning("the WAL checkpoints of %s cannot start: %s", self._path.name, exc)
                return
            self._thread, self._stop = thread, stop

    def _run(self, stop: threading.Event) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wrote.wait()
                stopping = stop.wait(self._pause)  # gather the next commits too
                self._wrote.clear()
                conn = conn or self._connect()
                if conn is not None:
                    self._checkpoint(conn)
                if stopping:
                    return
        finally:
            if conn is not None:
                conn.close()
            with self._start_lock:
                if self._stop is stop:  # ended without close(): the next write starts one
                    self._thread = self._stop = None

    def _connect(self) -> sqlite3.Connection | None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            # Never waits for a lock: a RESTART that finds the writer or a reader busy
            # would otherwise hold the checkpoint lock while it waits, and the writers'
            # own checkpoints could not run meanwhile. It is tried again next time.
            conn.execute("PRAGMA busy_timeout=0")
        except sqlite3.Error as exc:  # logged and tried again after the next commit
            log.warning("the WAL checkpoints of %s cannot open it: %s", self._path.name, exc)
            return None
        return conn

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            # PASSIVE: copy what no reader still needs, never wait on a reader or writer.
            # fetchall() ends each statement, so this connection holds no read snapshot
            # that would keep the WAL from starting over.
            ((busy, frames, _),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if busy:  # another connection's checkpoint was running: it does the work
                return
            self.checkpoints += 1
            if frames >= self._restart_frames:
                ((busy, _, _),) = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                self.restarts += busy == 0
        except sqlite3.Error as exc:  # logged and tried again after the next commit
            log.warning("a checkpoint of %s failed: %s", self._path.name, exc)

    def close(self) -> None:
        """Checkpoint what was committed and stop the thread (if one runs)."""
        with self._start_lock:
            thread, stop = self._thread, self._stop
            self._thread = self._stop = None
        if thread is not None and stop is not None:
            stop.set()
            self._wrote.set()  # wakes it for its last checkpoint
            thread.join()
