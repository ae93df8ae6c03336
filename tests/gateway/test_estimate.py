"""The estimator: the original rule first, then learned from runs, with its error reported."""
from __future__ import annotations

import random

import pytest

from heaven.gateway.estimate import UNKNOWN_CPU, Estimator, cpu_percent, prior_seconds


@pytest.mark.parametrize(("seconds", "cpu"), [(0, 10), (0.5, 20), (1, 30), (3, 45), (5, 60), (6, 65), (12, 95),
                                              (1000, 95)])
def test_the_original_rule(seconds, cpu):
    assert cpu_percent(seconds) == pytest.approx(cpu)


def test_the_prior_is_iterations_over_5e7():
    estimator = Estimator()
    assert estimator.seconds("monte_carlo_pi", 1e8) == pytest.approx(prior_seconds(1e8)) == pytest.approx(2.0)
    assert estimator.cpu("monte_carlo_pi", 1e8) == pytest.approx(37.5)
    assert estimator.cpu("word_count", None) == UNKNOWN_CPU  # an operation that cannot be sized


def test_runs_on_a_faster_machine_teach_the_line_and_the_error_shrinks():
    rng = random.Random(4)
    estimator = Estimator()
    truth = lambda n: 0.05 + n / 2e8  # noqa: E731 - four times the prior's speed, plus a fixed overhead
    errors = []
    for _ in range(60):
        n = 10 ** rng.uniform(6, 9)
        errors.append(estimator.learn("monte_carlo_pi", n, truth(n) * rng.uniform(0.95, 1.05)))
    assert sum(errors[:5]) / 5 > 0.5  # the prior is far off at first
    assert sum(errors[-20:]) / 20 < 0.1
    assert estimator.seconds("monte_carlo_pi", 1e9) == pytest.approx(truth(1e9), rel=0.1)
    report = estimator.report()["monte_carlo_pi"]
    assert report["runs"] == 60 and len(report["errors_pct"]) == 60
    assert report["recent_error_pct"] < report["first_error_pct"]
    assert report["units_per_second"] == pytest.approx(2e8, rel=0.15)


def test_an_unsized_operation_learns_its_mean_time():
    estimator = Estimator()
    assert estimator.seconds("word_count", None) is None
    assert estimator.learn("word_count", None, 2.0) is None  # nothing was predicted
    estimator.learn("word_count", None, 4.0)
    assert 2.0 < estimator.seconds("word_count", None) < 4.0
    assert estimator.cpu("word_count", None) == UNKNOWN_CPU
