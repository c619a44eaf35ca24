"""The call guard in the embedded SQLite file, for several processes of one host.

Nonce and flow window are checked in one `BEGIN IMMEDIATE` transaction on the
database file every process opens, so `serve --workers N` without Redis keeps one
exact window per account instead of N. It uses its own `sqlite3` connection: the
guard runs on every call, and SQLAlchemy's per-statement cost would dominate it.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from cams_server.gateway.guard import ADMITTED, REPLAYED, Admission, FlowRequest, GuardUnavailable
from cams_server.rpc.caller import NonceClaim
from cams_server.store.wal import WalCheckpointer

__all__ = ["SqliteGuard"]

_SWEEP_EVERY = 2048


class SqliteGuard:
    """`wal` checkpoints the file's WAL: the guard commits on the event loop, on every
    call, and leaves the checkpoints to it (store/wal.py)."""

    def __init__(self, path: Path, wal: WalCheckpointer, busy_timeout_ms: int = 2000) -> None:
        self._path = path
        self._wal = wal
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        wal.hand_over(self._conn)
        self._lock = threading.Lock()
        self._calls = 0

    async def admit(self, nonce: NonceClaim, flow: FlowRequest | None, now: float) -> Admission:
        digest = nonce.digest()
        now_us = int(now * 1_000_000)
        try:
            with self._lock:
                admission = self._admit(digest, int(nonce.expires_at * 1_000_000), flow, now_us)
        except sqlite3.Error as exc:
            raise GuardUnavailable(f"the SQLite guard failed ({exc})") from None
        self._wal.wrote()
        return admission

    def _admit(
        self, digest: bytes, expires_us: int, flow: FlowRequest | None, now_us: int
    ) -> Admission:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._calls += 1
            if self._calls % _SWEEP_EVERY == 0:
                conn.execute("DELETE FROM guard_nonces WHERE expires_us < ?", (now_us,))
            seen = conn.execute(
                "SELECT 1 FROM guard_nonces WHERE digest = ? AND expires_us >= ?",
                (digest, now_us),
            ).fetchone()
            if seen is not None:
                conn.execute("COMMIT")
                return REPLAYED
            if flow is not None:
                period_us = int(flow.period * 1_000_000)
                conn.execute(
                    "DELETE FROM guard_flow WHERE key = ? AND admitted_us <= ?",
                    (flow.key, now_us - period_us),
                )
                count, oldest = conn.execute(
                    "SELECT COUNT(*), MIN(admitted_us) FROM guard_flow WHERE key = ?",
                    (flow.key,),
                ).fetchone()
                if count >= flow.limit:  # throttled: no slot taken, no nonce kept
                    conn.execute("COMMIT")
                    return Admission(True, max((oldest + period_us - now_us) / 1_000_000, 0.001))
                conn.execute(
                    "INSERT INTO guard_flow (key, admitted_us) VALUES (?, ?)", (flow.key, now_us)
                )
            conn.execute(
                "INSERT INTO guard_nonces (digest, expires_us) VALUES (?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET expires_us = excluded.expires_us",
                (digest, expires_us),
            )
            conn.execute("COMMIT")
            return ADMITTED
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def remembers_since(self) -> float:
        return 0.0  # its store outlives the process

    async def ready(self) -> str:
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            return f"unavailable: {exc}"
        return "ok"

    async def reset(self) -> None:
        return None  # its tables are emptied with the rest of the state

    async def close(self) -> None:
        self._conn.close()

    def sizes(self) -> dict[str, int]:
        return {}
