"""Flow control: an exact sliding log of admitted calls per (account, action).

At most `limit` calls are admitted in any window of `period` seconds: a call is
admitted when fewer than `limit` admissions happened in the last `period`; a
rejected call leaves no trace, so it does not use up the allowance. Token buckets
and sliding-window counters admit bursts above the limit in some windows; a log of
the last `limit` admissions does not.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

__all__ = ["FlowWindow", "MemoryFlowWindow"]


class FlowWindow(Protocol):
    def admit(self, key: str, limit: int, period: float, now: float) -> float | None:
        """None if admitted (and recorded); else seconds until a call would be admitted."""
        ...

    def size(self) -> int:
        """How many keys have a live window (for metrics)."""
        ...


class MemoryFlowWindow:
    """For one process. Memory is bounded by the keys active in the last period."""

    def __init__(self, sweep_every: int = 4096) -> None:
        self._logs: dict[str, deque[float]] = {}
        self._sweep_every = sweep_every
        self._since_sweep = 0
        self._longest_period = 0.0

    def admit(self, key: str, limit: int, period: float, now: float) -> float | None:
        self._longest_period = max(self._longest_period, period)
        self._since_sweep += 1
        if self._since_sweep >= self._sweep_every:
            self._sweep(now)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = deque(maxlen=limit)
        horizon = now - period
        while log and log[0] <= horizon:
            log.popleft()
        if len(log) < limit:
            log.append(now)
            return None
        return max(log[0] + period - now, 0.001)

    def size(self) -> int:
        return len(self._logs)

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        horizon = now - self._longest_period
        stale = [k for k, log in self._logs.items() if not log or log[-1] <= horizon]
        for key in stale:
            del self._logs[key]
