"""Preemption: a waiting job of strictly higher priority evicts the fewest lower-priority jobs.

Every plan here goes through ``harness.run_cycle``: ``verify`` accepts all of
it, and applied to the snapshot it breaks no invariant.
"""
import pytest

from heaven.core.plan import Preempt
from heaven.core.scheduler import SchedulerConfig
from tests.builders import job, node, running, snapshot
from tests.core.harness import run_cycle

OLDEST = SchedulerConfig(preempt=True, victim_order="oldest-first")
NEWEST = SchedulerConfig(preempt=True, victim_order="newest-first")


def low(job_id, cores, first, started_at, node_name="n1", priority=0, **kw):
    """A running low-priority job on cores first..first+cores-1."""
    return running(job(job_id, cores=cores, priority=priority, **kw), node_name, tuple(range(first, first + cores)),
                   started_at=started_at, **{k: v for k, v in kw.items() if k == "gpu_ids"})


def full_of_low_jobs():
    """The original deployment scheduler's scenario: 4 cores, four 1-core jobs started at t=10, 20, 30, 40."""
    return [low(10 + i, 1, i, started_at=10.0 * (i + 1)) for i in range(4)]


def evicted(plan):
    return [p.job_id for p in plan.preemptions]


@pytest.mark.parametrize("config, victim", [(OLDEST, 10), (NEWEST, 13)])
def test_a_high_priority_job_evicts_the_oldest_or_the_newest_low_job(config, victim):
    snap = snapshot([node("n1", 4)], [job(1, priority=5)], full_of_low_jobs())
    plan = run_cycle(snap, config, now=50.0)
    assert plan.preemptions == [Preempt(victim, "n1", "evicted for job 1 (priority 5 > 0)")]
    assert [(p.job_id, p.cores) for p in plan.placements] == [(1, (victim - 10,))]  # on the victim's core
    assert (plan.counts.preempted, plan.counts.scheduled, plan.counts.unschedulable) == (1, 1, 0)
    assert 1 not in plan.waiting


def test_the_default_victim_order_is_newest_first():
    assert SchedulerConfig().victim_order == "newest-first"
    snap = snapshot([node("n1", 4)], [job(1, priority=5)], full_of_low_jobs())
    assert evicted(run_cycle(snap, SchedulerConfig(preempt=True), now=50.0)) == [13]


def test_preemption_is_off_unless_configured():
    snap = snapshot([node("n1", 4)], [job(1, priority=5)], full_of_low_jobs())
    plan = run_cycle(snap, SchedulerConfig(), now=50.0)
    assert plan.preemptions == [] and plan.placements == [] and plan.counts.unschedulable == 1


@pytest.mark.parametrize("config", [OLDEST, NEWEST])
def test_a_minimal_set_is_evicted(config):
    # Oldest first the prefix is 10 (1 core) then 11 (2 cores): 11 alone is enough, so 10 is spared.
    # Newest first 12 (1 core) then 11: again 11 alone.
    jobs = [low(10, 1, 0, 10.0), low(11, 2, 1, 20.0), low(12, 1, 3, 30.0)]
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, cores=2, priority=5)], jobs), config, now=50.0)
    assert evicted(plan) == [11]
    assert plan.placements[0].cores == (1, 2)


def test_as_many_victims_as_needed_and_no_more():
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, cores=3, priority=5)], full_of_low_jobs()), OLDEST, now=50.0)
    assert sorted(evicted(plan)) == [10, 11, 12] and plan.counts.preempted == 3


def test_the_lowest_priority_goes_first_whatever_the_order():
    jobs = [low(10, 2, 0, 10.0, priority=1), low(11, 2, 2, 40.0, priority=0)]
    for config in (OLDEST, NEWEST):
        assert evicted(run_cycle(snapshot([node("n1", 4)], [job(1, cores=2, priority=5)], jobs), config)) == [11]


def test_the_node_needing_the_fewest_victims_wins():
    a = [low(10, 1, 0, 10.0), low(11, 1, 1, 10.0)]  # n1: two 1-core jobs
    b = [low(12, 2, 2, 50.0, node_name="n2")]  # n2: one 2-core job
    plan = run_cycle(snapshot([node("n1", 2), node("n2", 2, offset=2)], [job(1, cores=2, priority=5)], a + b), OLDEST)
    assert evicted(plan) == [12] and plan.placements[0].node == "n2"


@pytest.mark.parametrize("priority", [3, 4])
def test_never_evicts_equal_or_higher_priority(priority):
    jobs = [low(10, 2, 0, 10.0, priority=priority), low(11, 2, 2, 20.0, priority=9)]
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, cores=1, priority=3)], jobs), OLDEST)
    assert plan.preemptions == [] and plan.placements == [] and plan.counts.unschedulable == 1


def test_never_evicts_when_memory_would_still_be_short():
    # Evicting the low job frees cores, but the 800 MB held by a higher-priority job stay taken.
    high = running(job(9, memory_mb=800, priority=9), "n1", (0,))
    victim = low(10, 3, 1, 10.0)
    snap = snapshot([node("n1", 4, memory_mb=1000)], [job(1, cores=2, memory_mb=500, priority=5)], [high, victim])
    plan = run_cycle(snap, OLDEST)
    assert plan.preemptions == [] and plan.placements == [] and plan.counts.unschedulable == 1


def test_never_evicts_when_the_gpu_would_still_be_short():
    gpu_holder = running(job(9, gpus=1, priority=5), "n1", (0,), gpu_ids=(0,))
    victim = low(10, 3, 1, 10.0)
    snap = snapshot([node("n1", 4, gpus=1)], [job(1, cores=1, gpus=1, priority=5)], [gpu_holder, victim])
    plan = run_cycle(snap, OLDEST)
    assert plan.preemptions == [] and plan.placements == []


def test_evicts_for_memory_and_gpus_too():
    victim = running(job(10, cores=1, memory_mb=900, gpus=1), "n1", (0,), gpu_ids=(0,), started_at=1.0)
    snap = snapshot([node("n1", 4, memory_mb=1000, gpus=1)], [job(1, memory_mb=500, gpus=1, priority=5)], [victim])
    plan = run_cycle(snap, OLDEST)
    assert evicted(plan) == [10] and plan.placements[0].gpu_ids == (0,)


def test_never_evicts_for_a_job_that_could_never_fit_there():
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, cores=6, priority=5)], full_of_low_jobs()), OLDEST)
    assert plan.preemptions == []


def test_a_pinned_job_evicts_only_on_its_node():
    n1 = [low(10, 2, 0, 10.0)]  # the oldest low job is on n1
    n2 = [low(11, 2, 2, 90.0, node_name="n2")]
    nodes = [node("n1", 2), node("n2", 2, offset=2)]
    plan = run_cycle(snapshot(nodes, [job(1, cores=2, priority=5, node="n2")], n1 + n2), OLDEST, now=100.0)
    assert evicted(plan) == [11] and plan.placements[0].node == "n2"
    unpinned = run_cycle(snapshot(nodes, [job(1, cores=2, priority=5)], n1 + n2), OLDEST, now=100.0)
    assert evicted(unpinned) == [10]


def test_a_pinned_job_whose_node_has_no_lower_victims_evicts_nobody():
    n1 = [low(10, 2, 0, 10.0)]
    n2 = [low(11, 2, 2, 90.0, node_name="n2", priority=7)]
    plan = run_cycle(snapshot([node("n1", 2), node("n2", 2, offset=2)], [job(1, cores=2, priority=5, node="n2")],
                              n1 + n2), OLDEST)
    assert plan.preemptions == [] and plan.placements == []


def test_a_down_node_is_not_a_place_to_evict_on():
    from heaven.core.states import NodeState
    snap = snapshot([node("n1", 4, state=NodeState.DRAIN)], [job(1, priority=5)], full_of_low_jobs())
    assert run_cycle(snap, OLDEST).preemptions == []


def test_jobs_that_fit_are_placed_first_and_evict_nobody():
    # Job 1 (priority 5) evicts; job 2 (priority 1) fits on the free core and needs nobody evicted.
    jobs = [low(10, 2, 0, 10.0), low(11, 1, 2, 20.0)]
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, cores=2, priority=5), job(2, priority=1)], jobs), OLDEST)
    assert sorted(p.job_id for p in plan.placements) == [1, 2]
    assert evicted(plan) == [10]


def test_each_waiting_job_evicts_for_itself_in_queue_order():
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, priority=5), job(2, priority=4)], full_of_low_jobs()),
                     OLDEST, now=50.0)
    assert evicted(plan) == [10, 11]
    assert [p.job_id for p in plan.placements] == [1, 2]
    assert plan.counts.preempted == 2 and plan.counts.scheduled == 2


def test_shrink_before_evict():
    # The low job uses one of its four cores: stealing three idle cores places job 1, nobody is evicted.
    idle = running(job(10, cores=4), "n1", (0, 1, 2, 3), used_cores=1.0, started_at=1.0)
    plan = run_cycle(snapshot([node("n1", 4)], [job(1, cores=2, priority=5)], [idle]),
                     SchedulerConfig(preempt=True, steal=True))
    assert plan.preemptions == [] and plan.counts.shrunk == 1 and plan.counts.scheduled == 1


def test_a_job_waiting_for_a_dependency_evicts_nobody():
    snap = snapshot([node("n1", 4)], [job(1, priority=5, depends_on=((77, "afterok"),))], full_of_low_jobs())
    plan = run_cycle(snap, OLDEST)
    assert plan.preemptions == [] and plan.waiting[1].code == "dependency"
