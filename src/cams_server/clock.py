"""Time, injected.

Every timestamp check, flow-control window, expiry and enablement time reads a
`Clock`, so tests move time instead of sleeping and two servers in one process can
live in different times.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "utc_iso"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (wall time, UTC)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; thread-safe so a server thread can read it."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            self._now = when


def utc_iso(ts: float) -> str:
    """Epoch seconds as the wire writes a time: `2026-01-02T03:04:05Z`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
