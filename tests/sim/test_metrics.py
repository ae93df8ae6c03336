"""Metrics: bounded slowdown, percentiles, averaging over sequences."""
import math

from heaven.sim.engine import JobRecord, Outcome
from heaven.sim.metrics import bounded_slowdown, percentile, summarize


def record(submit, start, run, cores=1, end=None, shrinks=()):
    return JobRecord(0, submit, start, start + run if end is None else end, run, cores, list(shrinks))


def test_bounded_slowdown_uses_a_10_second_bound():
    assert bounded_slowdown(record(0, 90, 100)) == 1.9
    assert bounded_slowdown(record(0, 18, 2)) == 2.0  # (18 + 2) / 10, not / 2
    assert bounded_slowdown(record(0, 0, 2)) == 1.0


def test_percentile_interpolates():
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([10], 0.95) == 10
    assert math.isnan(percentile([], 0.5))


def test_sequences_are_averaged_then_waits_pooled():
    a = Outcome(2, [record(0, 0, 100, cores=2)], [0.0], [0], [2], [1.0], busy_core_seconds=200, used_core_seconds=100, cycles=2)
    b = Outcome(2, [record(0, 30, 10), record(0, 10, 10)], [0.0], [0], [1], [1.0], 20, 20, 4)
    m = summarize([a, b])
    assert m.jobs == 3 and m.cycles == 6
    assert m.mean_bounded_slowdown == (1.0 + (4.0 + 2.0) / 2) / 2
    assert m.mean_wait == 40 / 3 and m.p50_wait == 10 and m.max_wait == 30
    assert m.utilization == (1.0 + 20 / (2 * 40)) / 2 and m.used_utilization == (0.5 + 0.25) / 2
    assert m.makespan == (100 + 40) / 2


def test_stealing_figures():
    donor = record(0, 0, 100, cores=4, end=120, shrinks=[(20, 2), (50, 1)])
    m = summarize([Outcome(4, [donor, record(0, 20, 10)], [0.0], [0], [4], [4.0], 1, 1, 1)])
    assert m.donors == 1 and m.shrinks == 2
    assert m.reclaimed_core_seconds == 2 * (100 - 20) + 1 * (100 - 50)  # until its undisturbed end, t=100
    assert m.donor_slowdown_mean == m.donor_slowdown_max == 1.2
