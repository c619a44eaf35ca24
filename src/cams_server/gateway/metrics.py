"""Prometheus metrics of one server, in a registry of its own.

Calls are counted per event-loop turn: `observe` adds a call to the turn's tally (a
dict entry and a bucket index), and the tally goes into the Prometheus metrics once, at
the end of the turn (and before every scrape). Through `inc` and `observe` per call
the three metrics cost more than the rest of the call's bookkeeping (bench/README.md).

Under `serve --workers N` every worker counts into files of its own in one directory
(prometheus_client's multiprocess mode: `shared_directory`), and a scrape, whichever
worker answers it, sums them all: the whole server, counters never going backwards (a
restarted worker's files stay and a new one starts beside them). One process counts in
memory.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from cams_server.gateway.pipeline import CallRecord
from cams_server.gateway.routes import BodyReader
from cams_server.wire.encoding import EncodedResponse
from cams_server.wire.request import WireRequest

__all__ = ["MetricsRoute", "ServerMetrics", "count_in_files"]

# prometheus_client's switch to multiprocess mode (normally read once at its import).
_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def count_in_files(directory: Path) -> None:
    """Make this process's metrics count into files in `directory`, to be summed with
    its sibling workers'. For a worker process, before its first metric is made:
    prometheus_client takes the mode from the environment at import, in the parent."""
    os.environ[_DIRECTORY_VARIABLE] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Tally:
    """The calls of one (action, code) in the current turn."""

    __slots__ = ("buckets", "calls", "seconds")

    def __init__(self, buckets: int) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.buckets = [0] * buckets  # calls per latency bucket, as Histogram keeps them


class _GuardSizes(Collector):
    def __init__(self, sizes: Callable[[], dict[str, int]]) -> None:
        self._sizes = sizes

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "cams_guard_entries",
            "Live entries of the in-process nonce and flow stores, and the nonce table's "
            "slots (8 bytes each)",
            labels=["store"],
        )
        for name, value in self._sizes().items():
            family.add_metric([name], value)
        yield family


class ServerMetrics:
    def __init__(
        self, guard_sizes: Callable[[], dict[str, int]], shared_directory: Path | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._guard_sizes = _GuardSizes(guard_sizes)
        self._shared_directory = shared_directory
        self.calls = Counter(
            "cams_calls",
            "Calls by action and answer code",
            ["action", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cams_call_seconds",
            "Time to answer a call",
            ["action"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.throttled = Counter(
            "cams_throttled_calls",
            "Calls refused by flow control",
            ["action"],
            registry=self.registry,
        )
        self.registry.register(self._guard_sizes)
        self._children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._bounds = _LATENCY_BUCKETS  # upper bounds; the last bucket (+Inf) is implied
        self._tally: dict[tuple[str, str], _Tally] = {}
        self._flush_scheduled = False

    def observe(self, action: str, code: str, seconds: float) -> None:
        """Count one call answered with `code` in `seconds` (into the Prometheus metrics at
        the end of this event-loop turn, or at once outside an event loop)."""
        tally = self._tally.get((action, code))
        if tally is None:
            tally = self._tally[(action, code)] = _Tally(len(self._bounds) + 1)
        tally.calls += 1
        tally.seconds += seconds
        tally.buckets[bisect.bisect_left(self._bounds, seconds)] += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: nothing to batch with
                self.flush()

    def flush(self) -> None:
        """Put the turn's tally into the Prometheus metrics."""
        self._flush_scheduled = False
        tally, self._tally = self._tally, {}
        for (action, code), counted in tally.items():
            calls, latency, throttled_calls = self._children_of(action, code)
            calls.inc(counted.calls)
            if throttled_calls is not None:
                throttled_calls.inc(counted.calls)
            # Histogram.observe per call, summed: its bucket counts are kept per bucket
            # (cumulated when exposed) and its sum beside them (tests/gateway/test_metrics.py
            # checks the exposition against per-call observe).
            latency._sum.inc(counted.seconds)
            for index, count in enumerate(counted.buckets):
                if count:
                    latency._buckets[index].inc(count)

    def _children_of(self, action: str, code: str) -> tuple[Any, Any, Any]:
        # The labelled children are looked up once per (action, code): `labels()` checks
        # and locks on every call. Both label sets are bounded (operations and route
        # labels; documented and injected codes).
        children = self._children.get((action, code))
        if children is None:
            throttled = code in ("System.LimitControl", "Throttling.User")
            children = self._children[(action, code)] = (
                self.calls.labels(action, code),
                self.latency.labels(action),
                self.throttled.labels(action) if throttled else None,
            )
        return children

    def render(self) -> bytes:
        self.flush()
        if self._shared_directory is None:
            return generate_latest(self.registry)
        # Every worker's counts, summed; the guard's sizes are the shared store's.
        whole = CollectorRegistry()
        MultiProcessCollector(whole, path=str(self._shared_directory))  # type: ignore[no-untyped-call]
        whole.register(self._guard_sizes)
        return generate_latest(whole)


@dataclass(frozen=True)
class MetricsRoute:
    """`/metrics`: the Prometheus text of this server's registry."""

    metrics: ServerMetrics
    label: str = "/metrics"

    def owns(self, path: str) -> bool:
        return path == "/metrics"

    async def respond(
        self, request: WireRequest, body: BodyReader, record: CallRecord
    ) -> EncodedResponse:
        headers = [
            (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
            (b"x-acs-request-id", record.request_id.encode()),
        ]
        return 200, headers, self.metrics.render()
