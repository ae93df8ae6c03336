"""The reclaim stage: shrinking running jobs that leave cores idle."""
import random

import pytest

from heaven.core.plan import Shrink
from heaven.core.reclaim import keep, spare
from heaven.core.scheduler import SchedulerConfig, schedule
from tests.builders import job, node, running, snapshot

RNG = random.Random(0)
STEAL = SchedulerConfig(policy="fcfs", order="fifo", steal=True)


def holding(job_id, cores, used, first=0, node_name="n1", **kw):
    return running(job(job_id, cores=cores, **kw), node_name, tuple(range(first, first + cores)), used_cores=used)


@pytest.mark.parametrize("held, used, min_cores, headroom, kept", [
    (8, 2.0, 1, 0.2, 3),     # ceil(2.4)
    (8, 5.0, 1, 0.2, 6),     # 5 × 1.2 is 6.000000000000001 in floating point: still 6
    (8, 0.0, 1, 0.2, 1),     # idle, but a running job keeps a core
    (8, 2.0, 4, 0.2, 4),     # never below min_cores
    (8, 7.9, 1, 0.2, 8),     # busier than it can be shrunk
    (4, None, 1, 0.2, 4),    # no samples: untouched
])
def test_keep_and_spare(held, used, min_cores, headroom, kept):
    j, alloc = holding(9, held, used, min_cores=min_cores)
    assert keep(alloc, j, headroom) == kept
    assert spare(alloc, j, headroom) == held - kept


def test_steals_idle_cores_for_a_job_that_does_not_fit():
    snap = snapshot([node("n1", 8)], [job(1, cores=4)], [holding(9, 8, 2.0)])
    plan = schedule(snap, 0.0, RNG, STEAL)
    assert plan.shrinks == [Shrink(9, "n1", (4, 5, 6, 7))]  # the donor keeps its lowest cores together
    assert [(p.job_id, p.cores) for p in plan.placements] == [(1, (4, 5, 6, 7))]
    assert plan.counts.shrunk == 1 and plan.counts.scheduled == 1


def test_free_cores_first_then_most_spare_first():
    donors = [holding(8, 3, 1.0, first=0), holding(9, 4, 1.0, first=3)]  # spare 1 and 2
    snap = snapshot([node("n1", 8)], [job(1, cores=3)], donors)  # core 7 is free
    plan = schedule(snap, 0.0, RNG, STEAL)
    assert plan.shrinks == [Shrink(9, "n1", (5, 6))]
    assert plan.placements[0].cores == (7, 5, 6)


def test_takes_from_several_donors_and_never_below_their_minimum():
    donors = [holding(8, 4, 0.5, first=0, min_cores=3), holding(9, 4, 0.5, first=4)]
    plan = schedule(snapshot([node("n1", 8)], [job(1, cores=4)], donors), 0.0, RNG, STEAL)
    assert plan.shrinks == [Shrink(9, "n1", (5, 6, 7)), Shrink(8, "n1", (3,))]
    assert sorted(plan.placements[0].cores) == [3, 5, 6, 7]


def test_takes_nothing_unless_the_whole_request_then_fits():
    snap = snapshot([node("n1", 8)], [job(1, cores=6)], [holding(9, 8, 3.0)])  # spare 4, needs 6
    plan = schedule(snap, 0.0, RNG, STEAL)
    assert plan.shrinks == [] and plan.placements == [] and plan.counts.unschedulable == 1


def test_jobs_without_samples_or_with_stealing_off_are_left_alone():
    assert schedule(snapshot([node("n1", 8)], [job(1, cores=4)], [holding(9, 8, None)]), 0.0, RNG, STEAL).shrinks == []
    snap = snapshot([node("n1", 8)], [job(1, cores=4)], [holding(9, 8, 2.0)])
    assert schedule(snap, 0.0, RNG, SchedulerConfig(policy="fcfs")).shrinks == []


def test_memory_must_fit_as_it_is():
    snap = snapshot([node("n1", 8, memory_mb=1000)], [job(1, cores=2, memory_mb=600)],
                    [holding(9, 8, 1.0, memory_mb=600)])
    assert schedule(snap, 0.0, RNG, STEAL).shrinks == []


def test_chooses_the_node_where_the_least_must_be_taken():
    a = holding(8, 8, 1.0, first=0, node_name="n1")
    b = holding(9, 6, 1.0, first=8, node_name="n2")  # n2 has 2 free: only 2 to take
    snap = snapshot([node("n1", 8), node("n2", 8, offset=8)], [job(1, cores=4)], [a, b])
    plan = schedule(snap, 0.0, RNG, STEAL)
    assert plan.shrinks == [Shrink(9, "n2", (12, 13))] and plan.placements[0].node == "n2"


def test_backfill_candidates_do_not_steal_only_the_head_does():
    donor = holding(9, 8, 1.0, walltime=100.0)  # 6 spare cores
    pending = [job(1, cores=8, walltime=10.0, submitted_at=1), job(2, cores=2, walltime=10.0, submitted_at=2)]
    plan = schedule(snapshot([node("n1", 8)], pending, [donor]), 0.0, RNG,
                    SchedulerConfig(policy="easy", order="fifo", steal=True))
    # The head cannot be helped (8 > 6 spare); job 2 could, but a backfill candidate never steals.
    assert plan.shrinks == [] and plan.placements == [] and plan.reservation.job_id == 1


def test_a_donor_is_shrunk_once_per_cycle():
    donor = holding(9, 8, 1.0)  # 6 spare cores: enough for both jobs, but only one shrink
    pending = [job(1, cores=4, submitted_at=1), job(2, cores=2, submitted_at=2)]
    plan = schedule(snapshot([node("n1", 8)], pending, [donor]), 0.0, RNG, SchedulerConfig(steal=True))
    assert [p.job_id for p in plan.placements] == [1] and len(plan.shrinks) == 1
