"""ServerMetrics: the per-turn tally exposes exactly what per-call observations would."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cams_server.gateway.metrics import _LATENCY_BUCKETS, ServerMetrics

# (action, code, seconds): bucket edges exactly, between them, beyond the last, throttles.
CALLS = [
    ("EnableWhatsappROIMetric", "OK", 0.0005),
    ("EnableWhatsappROIMetric", "OK", 0.0005000001),
    ("EnableWhatsappROIMetric", "OK", 0.0),
    ("EnableWhatsappROIMetric", "OK", 0.0031),
    ("EnableWhatsappROIMetric", "OK", 2.5),
    ("EnableWhatsappROIMetric", "OK", 9.0),
    ("EnableWhatsappROIMetric", "System.LimitControl", 0.001),
    ("EnableWhatsappROIMetric", "System.LimitControl", 0.0011),
    ("AssumeRole", "Throttling.User", 0.02),
    ("AssumeRole", "OK", 0.25),
    ("/metrics", "OK", 0.0001),
]


def _reference() -> bytes:
    """The same calls through prometheus_client's own per-call inc and observe."""
    registry = CollectorRegistry(auto_describe=True)
    calls = Counter("cams_calls", "Calls by action and answer code", ["action", "code"],
                    registry=registry)  # fmt: skip
    latency = Histogram("cams_call_seconds", "Time to answer a call", ["action"],
                        registry=registry, buckets=_LATENCY_BUCKETS)  # fmt: skip
    throttled = Counter("cams_throttled_calls", "Calls refused by flow control", ["action"],
                        registry=registry)  # fmt: skip
    for action, code, seconds in CALLS:
        calls.labels(action, code).inc()
        latency.labels(action).observe(seconds)
        if code in ("System.LimitControl", "Throttling.User"):
            throttled.labels(action).inc()
    return generate_latest(registry)


def _samples(
    text: bytes, prefixes: tuple[str, ...]
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        if family.name.startswith(prefixes)
        for s in family.samples
        if not s.name.endswith("_created")
    }


PREFIXES = ("cams_calls", "cams_call_seconds", "cams_throttled_calls")


def test_a_scrape_outside_an_event_loop_sees_every_call() -> None:
    metrics = ServerMetrics(lambda: {})
    for call in CALLS:
        metrics.observe(*call)
    # Sums are added in another order: equal up to rounding.
    assert _samples(metrics.render(), PREFIXES) == pytest.approx(_samples(_reference(), PREFIXES))


def test_calls_of_one_turn_are_tallied_then_exposed_as_per_call_observations() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        metrics = ServerMetrics(lambda: {})
        for call in CALLS[:6]:
            metrics.observe(*call)
        await asyncio.sleep(0)  # the turn ends: the tally goes in
        for call in CALLS[6:]:
            metrics.observe(*call)
        # A scrape in the same turn as the calls still counts them.
        return metrics.render(), generate_latest(metrics.registry)

    scraped, after = asyncio.run(scenario())
    expected = _samples(_reference(), PREFIXES)
    assert _samples(scraped, PREFIXES) == pytest.approx(expected)
    assert _samples(after, PREFIXES) == pytest.approx(expected)
    assert (
        expected[("cams_calls_total", (("action", "EnableWhatsappROIMetric"), ("code", "OK")))] == 6
    )
