"""Ranking: which cores of a node a job gets, and the order nodes are offered in."""
import pytest

from heaven.core.ranking import BEST_FIT, LEAST_LOADED, FreeIndex, choose_cores
from heaven.core.snapshot import capacities
from tests.builders import job, node, running, snapshot


@pytest.mark.parametrize("free, n, expected", [
    ({0, 1, 2, 3}, 2, [0, 1]),  # one run: its low end
    ({5, 6, 7}, 3, [5, 6, 7]),  # one run, exactly the size asked
    ({0, 1, 2, 3, 4, 8, 9}, 2, [8, 9]),  # the smallest run that holds the job, not the first
    ({0, 2, 3, 4, 6, 7}, 3, [2, 3, 4]),
    ({0, 2, 4, 6}, 2, [0, 2]),  # no run holds it: the lowest free positions
    ({1, 2}, 3, [1, 2]),  # fewer free than asked: all of them (feasibility refuses such a node first)
    (set(), 1, []),
])
def test_choose_cores_keeps_a_job_together_in_the_tightest_run(free, n, expected):
    assert choose_cores(free, n) == expected


def test_candidates_are_offered_tightest_first_for_best_fit_and_emptiest_first_for_least_loaded():
    nodes = [node("a", 8), node("b", 8, offset=8), node("c", 8, offset=16)]
    held = [running(job(1, cores=6), "a", tuple(range(6))), running(job(2, cores=2), "b", (8, 9))]
    index = FreeIndex(capacities(snapshot(nodes, (), held)))  # free: a 2, b 6, c 8
    assert list(index.candidates(2, BEST_FIT)) == ["a", "b", "c"]
    assert list(index.candidates(3, BEST_FIT)) == ["b", "c"]
    assert list(index.candidates(2, LEAST_LOADED)) == ["c", "b", "a"]


def test_a_node_moved_while_the_candidates_are_walked_stops_the_walk_loudly():
    # Callers choose while they walk and take after; taking mid-walk would skip or repeat nodes.
    caps = capacities(snapshot([node("a", 4), node("b", 4, offset=4)]))
    index = FreeIndex(caps)
    walk = index.candidates(1, BEST_FIT)
    first = next(walk)
    caps[first].free.discard(0)
    index.moved(first, 4)
    with pytest.raises(RuntimeError):
        next(walk)
