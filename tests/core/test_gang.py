"""Gangs: a job on N nodes at once, or not at all."""
import random

import pytest

from heaven.core import SchedulerConfig, schedule
from heaven.core.feasibility import never_fits
from heaven.core.model import Quota, Reservation
from heaven.core.quotas import OVER_QUOTA
from heaven.core.reasons import BLOCKED_BY_HEAD
from heaven.core.verify import verify
from tests.builders import job, node, running, snapshot, snapshot_with
from tests.core.harness import run_cycle

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


# -- quotas: every part counts, for every resource ------------------------------------------------
QUOTA_NODES = [node("n1", 4, cluster="a", memory_mb=4000, gpus=1), node("n2", 4, offset=4, cluster="a", memory_mb=4000, gpus=1)]


@pytest.mark.parametrize("quota, ask, field", [
    (Quota(cores=3), {"cores": 2}, "cores"),
    (Quota(memory_mb=1000), {"memory_mb": 800}, "memory_mb"),
    (Quota(gpus=1), {"gpus": 1}, "gpus"),
])
def test_a_gang_is_held_to_its_clusters_quota_in_every_resource(quota, ask, field):
    # Two single jobs of this size get one placement between them; a gang of two such parts gets none.
    singles = run_cycle(snapshot_with(QUOTA_NODES, [job(1, **ask), job(2, **ask)], quotas={"a": quota}), GREEDY)
    assert [p.job_id for p in singles.placements] == [1]
    plan = run_cycle(snapshot_with(QUOTA_NODES, [job(1, nodes=2, **ask)], quotas={"a": quota}), GREEDY)
    assert plan.placements == []
    assert (plan.waiting[1].code, plan.waiting[1].field) == (OVER_QUOTA, field)
    assert "the gang requires" in str(plan.waiting[1]) and "2 parts" in str(plan.waiting[1])


def test_a_gang_exactly_at_the_quota_is_placed():
    plan = run_cycle(snapshot_with(QUOTA_NODES, [job(1, memory_mb=500, nodes=2)], quotas={"a": Quota(memory_mb=1000)}),
                     GREEDY)
    assert sorted(p.node for p in plan.placements) == ["n1", "n2"]


def test_a_gang_part_goes_to_another_cluster_when_the_quota_is_the_limit():
    # Cluster a may hold 1000 MB: one 800 MB part fits there, the other goes to n3 in cluster b (no quota).
    nodes = [*QUOTA_NODES, node("n3", 4, offset=8, cluster="b", memory_mb=4000)]
    plan = run_cycle(snapshot_with(nodes, [job(1, memory_mb=800, nodes=2)], quotas={"a": Quota(memory_mb=1000)}),
                     GREEDY)
    assert sorted(p.node for p in plan.placements)[1] == "n3" and len(plan.placements) == 2


# -- a blocked gang at the head of a strict or backfilling queue -------------------------------------
def _blocked_gang_first():
    """Job 1, a gang of two 2-core parts, cannot start (n2 is busy); job 2 (1 core, short) could start now."""
    busy = running(job(9, cores=2, walltime=100.0), "n2", (2, 3))
    return snapshot([node("n1", 2), node("n2", 2, offset=2)], [job(1, cores=2, nodes=2), job(2, walltime=1.0)], [busy])


@pytest.mark.parametrize("policy", ["fcfs", "easy", "rl-backfill"])
@pytest.mark.parametrize("explain", [True, False])
def test_a_blocked_gang_holds_back_everything_behind_it(policy, explain):
    plan = run_cycle(_blocked_gang_first(), SchedulerConfig(policy=policy, order="fifo", explain=explain))
    assert plan.placements == [], f"{policy}: a job behind the blocked gang started"
    assert plan.reservation == Reservation(1)  # held at the head; no start is promised to a gang
    if explain:
        assert plan.waiting[2].code == BLOCKED_BY_HEAD and "behind job 1" in str(plan.waiting[2])


def test_greedy_still_lets_jobs_pass_a_blocked_gang():
    plan = run_cycle(_blocked_gang_first(), GREEDY)
    assert [p.job_id for p in plan.placements] == [2] and plan.reservation is None
