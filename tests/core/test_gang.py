"""Gangs: a job on N nodes at once, or not at all."""
import random

from heaven.core import SchedulerConfig, schedule
from heaven.core.feasibility import never_fits
from heaven.core.verify import verify
from tests.builders import job, node, running, snapshot

GREEDY = SchedulerConfig()


def _plan(snap, config=GREEDY):
    return schedule(snap, 0.0, random.Random(0), config)


def test_a_gang_gets_cores_on_distinct_nodes_all_at_once():
    snap = snapshot([node("n1", 2), node("n2", 2, offset=2), node("n3", 2, offset=4)], [job(1, cores=2, nodes=2)])
    plan = _plan(snap)
    assert sorted((p.node, p.cores) for p in plan.placements) == [("n1", (0, 1)), ("n2", (2, 3))]
    assert plan.counts.scheduled == 1
    assert verify(snap, plan).placements == plan.placements


def test_a_gang_that_cannot_have_all_its_parts_gets_none():
    busy = running(job(9, cores=2), "n2", (2, 3))
    snap = snapshot([node("n1", 2), node("n2", 2, offset=2)], [job(1, cores=2, nodes=2), job(2, cores=1)], [busy])
    plan = _plan(snap)
    assert [p.job_id for p in plan.placements] == [2]  # the single job is not held back by the gang
    assert "gang of 2 nodes" in str(plan.waiting[1])


def test_a_gang_is_never_a_victim_or_a_donor():
    parts = [running(job(9, cores=2, nodes=2), "n1", (0, 1), used_cores=0.1),
             running(job(9, cores=2, nodes=2), "n2", (2, 3), used_cores=0.1)]
    snap = snapshot([node("n1", 2), node("n2", 2, offset=2)], [job(1, cores=1, priority=10)],
                    [parts[0], (parts[1][0], parts[1][1])])
    plan = _plan(snap, SchedulerConfig(steal=True, preempt=True))
    assert plan.placements == [] and plan.shrinks == [] and plan.preemptions == []


def test_verify_rejects_a_partial_gang():
    snap = snapshot([node("n1", 2), node("n2", 2, offset=2)], [job(1, cores=2, nodes=2)])
    plan = _plan(snap)
    plan.placements = plan.placements[:1]
    checked = verify(snap, plan)
    assert checked.placements == [] and "2 parts" in checked.rejected[0][1]


def test_admission_refuses_a_gang_larger_than_the_cluster():
    reason = never_fits(job(1, cores=2, nodes=3), [node("n1", 2), node("n2", 2, offset=2)])
    assert reason is not None and reason.field == "nodes" and "only 2 nodes" in str(reason)
