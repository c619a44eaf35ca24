"""The call guard: a signature nonce accepted once, and the flow-control window.

Both are checked together after authentication, in one step, so a deployment's
shared store is asked once per call: in memory for one process, in the SQLite file
for several processes of one host, in Redis (one script, one round trip) for any
number of processes anywhere. A guard that cannot reach its store raises
`GuardUnavailable`; the pipeline answers ServiceUnavailable, never admits unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cams_server.gateway.flow import MemoryFlowWindow
from cams_server.gateway.nonces import MemoryNonceStore
from cams_server.rpc.caller import NonceClaim

__all__ = [
    "ADMITTED",
    "REPLAYED",
    "Admission",
    "CallGuard",
    "FlowRequest",
    "GuardUnavailable",
    "MemoryGuard",
]


class GuardUnavailable(Exception):
    """The guard's store cannot answer now (down, timed out, full)."""


@dataclass(slots=True)
class FlowRequest:
    key: str  # "<account>:<action>"
    limit: int
    period: float = 1.0


@dataclass(frozen=True, slots=True)
class Admission:
    nonce_fresh: bool
    wait: float | None = None  # None: admitted; else seconds until a call would be

    @property
    def admitted(self) -> bool:
        return self.nonce_fresh and self.wait is None


ADMITTED = Admission(True)  # the answer to most calls: one shared instance
REPLAYED = Admission(False)


class CallGuard(Protocol):
    async def admit(self, nonce: NonceClaim, flow: FlowRequest | None, now: float) -> Admission:
        """Refuse a nonce already remembered; else take a flow slot, and remember the
        nonce only when the call is admitted (atomically).

        A throttled call leaves nothing behind: it did nothing, so its nonce may still be
        accepted once, later, and a flood of throttled calls cannot fill the store."""
        ...

    async def ready(self) -> str:
        """'ok', or why not; for the readiness endpoint."""
        ...

    @property
    def remembers_since(self) -> float:
        """Since when (epoch seconds) this guard has remembered every admitted nonce: 0
        for a store that outlives the process; the start for memory, which a restart
        empties (a call signed before then might be a replay it cannot recognise)."""
        ...

    async def close(self) -> None: ...

    async def reset(self) -> None:
        """Forget every nonce and window (admin reset)."""
        ...

    def sizes(self) -> dict[str, int]:
        """Live entries, for metrics (empty when the store is remote); in memory also the
        nonce table's slots (8 bytes each), its memory."""
        ...


class MemoryGuard:
    """One process: exact and fast, and only correct while it is the only process."""

    def __init__(
        self,
        nonces: MemoryNonceStore | None = None,
        flow: MemoryFlowWindow | None = None,
        started_at: float = 0.0,
    ) -> None:
        self.nonces = nonces or MemoryNonceStore()
        self.flow = flow or MemoryFlowWindow()
        self._started_at = started_at

    @property
    def remembers_since(self) -> float:
        return self._started_at

    async def admit(self, nonce: NonceClaim, flow: FlowRequest | None, now: float) -> Admission:
        nonces = self.nonces
        slot = nonces.claim(nonce.scope, nonce.nonce, now)
        if slot is None:
            return REPLAYED
        if nonces.full():
            raise GuardUnavailable(f"the nonce store is full ({nonces.size()} live nonces)")
        wait = None if flow is None else self.flow.admit(flow.key, flow.limit, flow.period, now)
        if wait is not None:
            return Admission(True, wait)
        nonces.keep(slot, nonce.expires_at)  # nothing changed the store since `claim`
        return ADMITTED

    async def ready(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None

    async def reset(self) -> None:
        self.nonces = MemoryNonceStore()
        self.flow = MemoryFlowWindow()

    def sizes(self) -> dict[str, int]:
        nonces = self.nonces
        return {
            "nonces": nonces.size(),
            "nonce_slots": nonces.slots(),
            "flow_windows": self.flow.size(),
        }
