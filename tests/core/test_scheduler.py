import random

from heaven.core import SchedulerConfig, schedule
from heaven.core.reasons import BLOCKED_BY_HEAD, INSUFFICIENT_CPU
from heaven.core.verify import verify
from tests.builders import job, node, running, snapshot

RNG = random.Random(0)
GREEDY = SchedulerConfig()


def test_places_on_concrete_global_cores_using_the_core_map():
    snap = snapshot([node("n1", 2, offset=0), node("n2", 4, offset=2)], [job(1, cores=3)])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    assert [(p.node, p.cores) for p in plan.placements] == [("n2", (2, 3, 4))]
    assert plan.counts.scheduled == 1


def test_priority_then_fifo():
    snap = snapshot([node("n1", 1)], [job(1), job(2, priority=5), job(3, priority=5)])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    assert [p.job_id for p in plan.placements] == [2]
    assert plan.positions == {2: 1, 3: 2, 1: 3}


def test_pinned_job_waits_with_the_kubernetes_reason():
    busy = running(job(9, cores=2), "n1", (0, 1))
    snap = snapshot([node("n1", 4), node("n2", 4, offset=4)], [job(1, cores=3, node="n1")], [busy])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    assert plan.placements == []
    reason = plan.waiting[1]
    assert reason.code == INSUFFICIENT_CPU
    assert str(reason) == "Insufficient CPU: node n1 has 2.00 available, job requires 3.00"


def test_reserved_cores_are_never_granted():
    snap = snapshot([node("n1", 2, reserved=frozenset({0}))], [job(1), job(2)])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    assert [(p.job_id, p.cores) for p in plan.placements] == [(1, (1,))]


def test_keeps_cores_together():
    busy = running(job(9), "n1", (1,))
    snap = snapshot([node("n1", 6)], [job(1, cores=2)], [busy])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    assert plan.placements[0].cores == (2, 3)


def test_greedy_lets_small_jobs_pass_but_fcfs_blocks_them():
    snap = snapshot([node("n1", 2)], [job(1, cores=3), job(2, cores=1)])
    assert [p.job_id for p in schedule(snap, 0.0, RNG, GREEDY).placements] == [2]
    strict = schedule(snap, 0.0, RNG, SchedulerConfig(policy="fcfs"))
    assert strict.placements == [] and strict.waiting[2].code == BLOCKED_BY_HEAD


def test_memory_and_gpus_are_accounted():
    snap = snapshot([node("n1", 8, memory_mb=1000, gpus=1)], [job(1, memory_mb=600, gpus=1), job(2, memory_mb=600), job(3, gpus=1)])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    assert [(p.job_id, p.gpu_ids) for p in plan.placements] == [(1, (0,))]
    assert "memory" in str(plan.waiting[2]) and "GPU" in str(plan.waiting[3])


def test_verifier_rejects_what_no_longer_fits():
    snap = snapshot([node("n1", 2)], [job(1, cores=2), job(2, cores=2)])
    plan = schedule(snap, 0.0, RNG, GREEDY)
    fresher = snapshot([node("n1", 2)], [job(1, cores=2), job(2, cores=2)], [running(job(7), "n1", (0,))])
    checked = verify(fresher, plan)
    assert checked.placements == [] and "not all free" in checked.rejected[0][1]
    assert verify(snap, plan).placements == plan.placements


def test_the_post_filter_actions_are_wired_in_one_place_and_made_fresh_per_cycle():
    from heaven.core.scheduler import actions_for
    both = SchedulerConfig(steal=True, preempt=True)
    assert [(a.name, a.after_pass) for a in actions_for(both)] == [("steal", False), ("preempt", True)]
    assert actions_for(SchedulerConfig()) == ()
    assert actions_for(both)[1] is not actions_for(both)[1]  # an action's memory lasts one cycle
