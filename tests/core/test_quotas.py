"""Cluster quotas: the jobs running in a cluster never hold more than its quota.

Every plan goes through ``harness.run_cycle``, which applies it to the snapshot
and raises ``QuotaExceeded`` when a cluster ends up over its quota.
"""
import pytest

from heaven.core.feasibility import never_fits
from heaven.core.model import Quota
from heaven.core.plan import Grow
from heaven.core.quotas import OVER_QUOTA
from heaven.core.states import NodeState
from heaven.core.scheduler import SchedulerConfig
from tests.builders import borrowing, job, node, running, snapshot_with
from tests.core.harness import run_cycle

GREEDY = SchedulerConfig()


def placed(plan):
    return [p.job_id for p in plan.placements]


def test_never_placed_beyond_the_quota_and_the_reason_names_it():
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=3), job(2, cores=2)],
                         quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [1]
    reason = plan.waiting[2]
    assert (reason.code, reason.field) == (OVER_QUOTA, "cores")
    assert str(reason).startswith("cluster a quota: 3 of 4 cores in use, job requires 2")


def test_running_jobs_count_against_the_quota():
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=2)], [running(job(9, cores=3), "n1", (0, 1, 2))],
                         quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [] and plan.waiting[1].code == OVER_QUOTA


def test_exactly_the_quota_is_allowed():
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=3), job(2, cores=1)], quotas={"a": Quota(cores=4)})
    assert placed(run_cycle(snap, GREEDY)) == [1, 2]


def test_a_job_goes_to_a_cluster_with_room_instead():
    nodes = [node("n1", 8, cluster="a"), node("n2", 2, offset=8, cluster="b")]
    snap = snapshot_with(nodes, [job(1, cores=2)], [running(job(9, cores=4), "n1", (0, 1, 2, 3))],
                         quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, GREEDY)
    assert [(p.job_id, p.node) for p in plan.placements] == [(1, "n2")]


def test_a_job_of_a_full_cluster_waits():
    nodes = [node("n1", 8, cluster="a"), node("n2", 8, offset=8, cluster="b")]
    snap = snapshot_with(nodes, [job(1, cores=2, cluster="a")], [running(job(9, cores=4), "n1", (0, 1, 2, 3))],
                         quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [] and plan.waiting[1].code == OVER_QUOTA


def test_the_quota_spans_every_node_of_the_cluster():
    nodes = [node("n1", 4, cluster="a"), node("n2", 4, offset=4, cluster="a")]
    snap = snapshot_with(nodes, [job(1, cores=3), job(2, cores=3)], quotas={"a": Quota(cores=5)})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [1] and plan.waiting[2].code == OVER_QUOTA


def test_a_pinned_job_waits_for_its_clusters_quota():
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=2, node="n1")],
                         [running(job(9, cores=3), "n1", (0, 1, 2))], quotas={"a": Quota(cores=4)})
    assert run_cycle(snap, GREEDY).waiting[1].code == OVER_QUOTA


@pytest.mark.parametrize("quota, ask, field", [
    (Quota(memory_mb=1000), {"memory_mb": 600}, "memory_mb"),
    (Quota(gpus=1), {"gpus": 1}, "gpus"),
])
def test_memory_and_gpu_quotas(quota, ask, field):
    snap = snapshot_with([node("n1", 8, cluster="a", memory_mb=4000, gpus=2)], [job(1, **ask), job(2, **ask)],
                         quotas={"a": quota})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [1] and (plan.waiting[2].code, plan.waiting[2].field) == (OVER_QUOTA, field)


@pytest.mark.parametrize("ask, evicted, started", [
    (4, [10, 11], [1]),  # the node has room for 4, the quota only once both low jobs are gone
    (5, [], []),  # the quota can never hold 5 cores: evicting would only lose work
])
def test_preemption_evicts_what_the_quota_needs_and_never_in_vain(ask, evicted, started):
    # The cluster is at its quota of 4 with low-priority work on half of an 8-core node.
    low = [running(job(10 + i, cores=2), "n1", (2 * i, 2 * i + 1), started_at=float(i)) for i in range(2)]
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=ask, priority=5)], low,
                         quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, SchedulerConfig(preempt=True))  # and the quota holds after it (QuotaExceeded)
    assert sorted(p.job_id for p in plan.preemptions) == evicted and placed(plan) == started
    if not started:
        assert plan.waiting[1].code == OVER_QUOTA


def test_preemption_frees_quota_in_the_jobs_own_cluster():
    low = [running(job(10 + i, cores=2), "n1", (2 * i, 2 * i + 1), started_at=float(i)) for i in range(2)]
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=2, priority=5)], low, quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, SchedulerConfig(preempt=True))
    assert [p.job_id for p in plan.preemptions] == [11] and placed(plan) == [1]


# -- once bugs, now regressions ----------------------------------------------------------------------
def test_stealing_never_breaks_a_quota():
    # Cluster a (one 8-core node) has a 6-core quota: job 9 holds 4 (uses 0.5), job 8 holds 2; cores 6-7 free.
    # Job 1 asks 4: steal takes 2 from job 9 and adds the 2 free cores, so the cluster holds 2+2+4 = 8 > 6.
    donors = [running(job(9, cores=4), "n1", (0, 1, 2, 3), used_cores=0.5),
              running(job(8, cores=2), "n1", (4, 5), used_cores=2.0)]
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(1, cores=4)], donors, quotas={"a": Quota(cores=6)})
    plan = run_cycle(snap, SchedulerConfig(steal=True))
    assert placed(plan) == [] and plan.waiting[1].code == OVER_QUOTA


def test_give_back_from_free_cores_never_breaks_a_quota():
    # Cluster a: n1 and n2, 4 cores each, quota 6. Job 1 asked 4, holds 2 on n1 and is busy; job 2 holds all
    # of n2. Cluster use is 6 of 6; growing job 1 by n1's two free cores makes it 8.
    # With a quota of 7 it may grow by one of them.
    nodes = [node("n1", 4, cluster="a"), node("n2", 4, offset=4, cluster="a")]
    jobs = [running(job(1, cores=4), "n1", (0, 1), recent_cores=2.0, used_cores=2.0),
            running(job(2, cores=4), "n2", (4, 5, 6, 7), used_cores=4.0)]
    for quota, grows in ((6, []), (7, [Grow(1, "n1", (2,))])):
        plan = run_cycle(snapshot_with(nodes, [], jobs, quotas={"a": Quota(cores=quota)}), SchedulerConfig(steal=True))
        assert plan.grows == grows, f"quota {quota}"
        assert plan.shrinks == [] and plan.preemptions == []


def test_give_back_evicting_a_borrower_keeps_the_quota_ledger_right():
    # Cluster a: n1 and n2, 4 cores each, quota 6. n1: job 1 (asked 4) holds 0-1, job 5 (min 2) holds 2-3 lent
    # by job 1. n2: job 2 holds 4-5. Use 6 of 6. Job 1 takes 2-3 back and job 5 is evicted (use stays 6),
    # but the ledger now reads 4, so job 3 (2 cores) is placed on n2: 8 of 6.
    nodes = [node("n1", 4, cluster="a"), node("n2", 4, offset=4, cluster="a")]
    jobs = [running(job(1, cores=4), "n1", (0, 1), recent_cores=2.0, used_cores=2.0),
            borrowing(job(5, cores=2, min_cores=2), "n1", (2, 3), {2: 1, 3: 1}, used_cores=2.0),
            running(job(2, cores=2), "n2", (4, 5), used_cores=2.0)]
    plan = run_cycle(snapshot_with(nodes, [job(3, cores=2)], jobs, quotas={"a": Quota(cores=6)}),
                     SchedulerConfig(steal=True))
    assert plan.grows == [Grow(1, "n1", (2, 3))] and placed(plan) == []


def test_a_job_is_never_placed_outside_its_cluster_even_when_pinned():
    nodes = [node("n1", 4, cluster="a"), node("n2", 4, offset=4, cluster="b")]
    plan = run_cycle(snapshot_with(nodes, [job(1, cluster="a", node="n2")]), GREEDY)
    assert placed(plan) == []


def test_admission_refuses_a_pin_outside_the_jobs_cluster():
    nodes = [node("n1", 4, cluster="a"), node("n2", 4, offset=4, cluster="b")]
    assert never_fits(job(1, cluster="a", node="n2"), nodes) is not None


def test_a_waiting_started_service_keeps_its_quota_from_batch_jobs():
    # The service is pinned to a node that is down, so it waits; the quota it holds while
    # waiting (as the cluster's books count it) is not the batch job's to take.
    nodes = [node("n1", 8, cluster="a"), node("n2", 8, offset=8, cluster="a", state=NodeState.DOWN)]
    service = job(1, cores=2, cluster="a", node="n2", holds_quota=True)
    snap = snapshot_with(nodes, [service, job(2, cores=3, cluster="a")], quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == []
    assert plan.waiting[2].code == OVER_QUOTA and "2 of 4 cores in use" in str(plan.waiting[2])


def test_a_started_service_may_use_the_quota_it_holds_and_holds_it_once():
    service = job(1, cores=4, cluster="a", holds_quota=True)
    snap = snapshot_with([node("n1", 8, cluster="a")], [service, job(2, cores=1, cluster="a")],
                         quotas={"a": Quota(cores=4)})
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [1]
    assert plan.waiting[2].code == OVER_QUOTA and "4 of 4 cores in use" in str(plan.waiting[2])
