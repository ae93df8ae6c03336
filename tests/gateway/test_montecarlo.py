"""π by Monte Carlo: bounded chunks, parts across cores, independent streams."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np

from heaven.gateway import montecarlo


def test_split_covers_every_point():
    assert montecarlo.split(10, 3) == [4, 3, 3]
    assert montecarlo.split(2, 4) == [1, 1]


def test_counts_across_chunk_boundaries_are_whole():
    n = montecarlo.CHUNK + 17
    inside = montecarlo.count_inside(n, np.random.SeedSequence(1))
    assert 0.77 * n < inside < 0.80 * n  # pi/4 = 0.785


def test_a_split_call_estimates_pi_across_a_pool(monkeypatch):
    monkeypatch.setattr(montecarlo, "SPLIT_ABOVE", 1000)
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        montecarlo.use_pool(pool)
        try:
            estimates = [montecarlo.estimate_pi(2_000_000, [0, 1])[0] for _ in range(2)]
        finally:
            montecarlo.use_pool(None)
    assert all(abs(e - np.pi) < 0.01 for e in estimates)  # 5 standard errors
    assert estimates[0] != estimates[1]  # fresh streams per call


def test_a_single_core_call_runs_in_the_worker_itself_and_says_its_cpu_time():
    estimate, seconds = montecarlo.estimate_pi(1_000_000, sorted(os.sched_getaffinity(0))[:1])
    assert abs(estimate - np.pi) < 0.01
    assert 0 < seconds < 60
