"""Injected faults: make the next N calls of an action fail, or slow down, on purpose.

So a team can test its retry logic against a real server: `System.LimitControl`,
`ServiceUnavailable` or any documented code for the next N calls of an action (for one
account or all), and/or added latency. Faults are per process (set them on each
process of a multi-process deployment) and are cleared by `reset`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["Fault", "FaultPlan"]


@dataclass(slots=True)
class Fault:
    action: str
    account_id: str | None  # None: every account
    code: str | None  # None: latency only
    remaining: int
    latency_ms: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "Action": self.action,
            "AccountId": self.account_id,
            "Code": self.code,
            "Remaining": self.remaining,
            "LatencyMs": self.latency_ms,
        }


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def take(self, action: str, account_id: str) -> Fault | None:
        """The first live fault for this call, with one use taken from it."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and fault.action == action
                    and (fault.account_id is None or fault.account_id == account_id)
                ):
                    fault.remaining -= 1
                    return fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return None
