"""MemoryFlowWindow: an exact sliding window of admitted calls, per key.

Times are explicit `now` values, and multiples of 1/1024 s where arithmetic matters,
so every sum and difference below is exact in binary floating point.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cams_server.gateway import flow
from cams_server.gateway.flow import FlowWindow, MemoryFlowWindow
from tests.builds import source_only

LIMIT = 5
PERIOD = 1.0
KEY = "1000000000000001:EnableWhatsappROIMetric"


def admit(window: MemoryFlowWindow, now: float, key: str = KEY) -> float | None:
    return window.admit(key, LIMIT, PERIOD, now)


def test_is_a_flow_window() -> None:
    window: FlowWindow = MemoryFlowWindow()
    assert window.size() == 0


def test_five_admitted_at_one_instant_sixth_waits_a_full_period() -> None:
    window = MemoryFlowWindow()
    assert [admit(window, 100.0) for _ in range(5)] == [None] * 5
    assert admit(window, 100.0) == 1.0


def test_wait_is_time_until_the_oldest_admission_leaves() -> None:
    window = MemoryFlowWindow()
    for t in (100.0, 100.125, 100.25, 100.375, 100.5):
        assert admit(window, t) is None
    assert admit(window, 100.75) == 0.25  # 100.0 leaves at 101.0
    assert admit(window, 100.875) == 0.125
    # Exactly when the oldest leaves, one call is admitted ...
    assert admit(window, 101.0) is None
    # ... and the next one waits for the second oldest (100.125 leaves at 101.125).
    assert admit(window, 101.0) == 0.125
    assert admit(window, 101.125) is None


def test_admitted_at_now_plus_wait() -> None:
    window = MemoryFlowWindow()
    for t in (7.0, 7.25, 7.5, 7.5, 7.75):
        assert admit(window, t) is None
    wait = admit(window, 7.875)
    assert wait == 0.125
    assert admit(window, 7.875 + wait) is None


def test_rejected_calls_do_not_use_up_the_allowance() -> None:
    window = MemoryFlowWindow()
    for _ in range(5):
        assert admit(window, 0.0) is None
    # A flood of rejected calls during the window ...
    for i in range(1, 1000):
        assert admit(window, i / 1024) is not None
    # ... leaves no trace: a full allowance is back one period after the admissions.
    assert [admit(window, 1.0) for _ in range(5)] == [None] * 5
    assert admit(window, 1.0) == 1.0


def test_wait_is_never_zero_or_negative() -> None:
    window = MemoryFlowWindow()
    for _ in range(5):
        admit(window, 3.0)
    wait = admit(window, 3.0 + 1023 / 1024)
    assert wait is not None
    assert wait > 0


def test_keys_are_independent() -> None:
    window = MemoryFlowWindow()
    for _ in range(5):
        assert admit(window, 0.0, key="a") is None
    assert admit(window, 0.0, key="a") is not None
    for _ in range(5):
        assert admit(window, 0.0, key="b") is None
    assert admit(window, 0.0, key="b") is not None
    assert window.size() == 2


def test_limit_and_period_are_per_call() -> None:
    window = MemoryFlowWindow()
    for _ in range(50):
        assert window.admit("metric", 50, 1.0, 0.0) is None
    assert window.admit("metric", 50, 1.0, 0.0) == 1.0
    assert window.admit("slow", 1, 10.0, 0.0) is None
    assert window.admit("slow", 1, 10.0, 5.0) == 5.0
    assert window.admit("slow", 1, 10.0, 10.0) is None


def test_sweep_removes_idle_keys() -> None:
    window = MemoryFlowWindow(sweep_every=10)
    for i in range(9):
        assert admit(window, 0.0, key=f"idle-{i}") is None
    assert window.size() == 9
    # The 10th key sweeps first: every key idle for longer than the period goes.
    assert admit(window, 5.0, key="fresh") is None
    assert window.size() == 1


def test_sweep_keeps_keys_active_within_the_period() -> None:
    window = MemoryFlowWindow(sweep_every=3)
    assert admit(window, 0.0, key="old") is None
    assert admit(window, 4.5, key="recent") is None
    assert admit(window, 4.75, key="recent") is None
    assert window.size() == 2
    assert admit(window, 5.0, key="new") is None  # a 3rd key: sweep at 5.0 first
    assert window.size() == 2  # "old" went, "recent" stayed
    # The surviving key kept its log: 2 admissions in the window, 3 left.
    assert [admit(window, 5.0, key="recent") for _ in range(4)] == [None, None, None, 0.5]


def test_swept_key_starts_afresh() -> None:
    window = MemoryFlowWindow(sweep_every=3)
    for _ in range(5):
        assert admit(window, 0.0, key="k") is None
    assert admit(window, 9.0, key="other") is None
    assert admit(window, 9.0, key="third") is None  # sweep: "k" is idle
    assert window.size() == 2
    assert [admit(window, 9.0, key="k") for _ in range(5)] == [None] * 5
    assert admit(window, 9.0, key="k") == 1.0


@source_only(flow)  # counts sweeps by replacing the method
def test_a_stable_set_of_active_keys_is_not_swept_again_and_again() -> None:
    """Sweeps wait for the table to double: with every key active, a sweep per N calls
    walked the whole table each time for nothing (the timed sweep is left out here)."""
    window = MemoryFlowWindow(sweep_every=8, sweep_interval=3600.0)
    swept = 0
    original = window._sweep

    def counting(now: float) -> None:
        nonlocal swept
        swept += 1
        original(now)

    window._sweep = counting  # type: ignore[method-assign]
    for second in range(20):
        for k in range(100):
            assert admit(window, second + k / 1000, key=f"acct-{k}") is None
    assert window.size() == 100
    assert swept <= 5  # 8, 16, 32, 64, 128 keys: while the table first fills, then never


def test_the_keys_of_a_past_burst_go_even_when_no_new_key_comes() -> None:
    """A burst of keys, then traffic on a few known keys only: a sweep triggered by new
    keys alone never came, and the burst's windows stayed for the life of the process
    (found by an attacker's review)."""
    window = MemoryFlowWindow(sweep_every=8, sweep_interval=10.0)
    for k in range(1000):
        assert admit(window, 0.5, key=f"burst-{k}") is None
    for second in range(1, 30):
        for k in range(3):
            admit(window, float(second), key=f"steady-{k}")
    assert window.size() == 3


def test_idle_keys_do_not_accumulate_beyond_twice_the_active_ones() -> None:
    window = MemoryFlowWindow(sweep_every=8)
    for second in range(50):
        for k in range(10):  # ten new keys a second, each idle after its second
            assert admit(window, float(second), key=f"s{second}-k{k}") is None
        assert window.size() <= max(8, 2 * 20) + 10


# Arrival times: multiples of 1/1024 s over 4 s, in order, with repeats.
_arrivals = st.lists(st.integers(0, 4 * 1024), min_size=1, max_size=120).map(
    lambda ticks: [t / 1024 for t in sorted(ticks)]
)


@settings(max_examples=200, deadline=None)
@given(arrivals=_arrivals, sweep_every=st.integers(1, 50))
def test_no_window_of_one_second_holds_more_than_five(
    arrivals: list[float], sweep_every: int
) -> None:
    window = MemoryFlowWindow(sweep_every=sweep_every)
    admitted: list[float] = []
    for t in arrivals:
        if admit(window, t) is None:
            admitted.append(t)
    # Any 6 consecutive admissions span at least a full period: no half-open window
    # [w, w + 1) ever holds more than 5.
    for first, sixth in zip(admitted, admitted[5:], strict=False):
        assert sixth - first >= PERIOD


@settings(max_examples=200, deadline=None)
@given(arrivals=_arrivals)
def test_matches_the_exact_sliding_log_model(arrivals: list[float]) -> None:
    """Admitted iff fewer than 5 admissions in (t - 1, t]; wait = oldest + 1 - t."""
    window = MemoryFlowWindow()
    admitted: list[float] = []
    for t in arrivals:
        in_window = [a for a in admitted if a > t - PERIOD]
        result = admit(window, t)
        if len(in_window) < LIMIT:
            assert result is None
            admitted.append(t)
        else:
            assert result == max(in_window[0] + PERIOD - t, 0.001)


@settings(max_examples=100, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 3 * 1024)), min_size=1, max_size=90
    ).map(lambda xs: sorted(xs, key=lambda kt: kt[1]))
)
def test_keys_never_interfere(arrivals: list[tuple[str, int]]) -> None:
    shared = MemoryFlowWindow()
    alone = {k: MemoryFlowWindow() for k in "abc"}
    for key, tick in arrivals:
        t = tick / 1024
        assert admit(shared, t, key=key) == admit(alone[key], t, key=key)
