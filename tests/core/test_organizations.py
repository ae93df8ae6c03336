"""Organizations in the core: a job runs only on its own organization's nodes, and a
cluster's name is its own organization's (two organizations may both have an "a").

Every plan goes through ``harness.run_cycle``, which applies it and checks that no
job runs on another organization's node and no quota is exceeded.
"""
import pytest

from heaven.core.feasibility import never_fits
from heaven.core.model import Quota, cluster_key
from heaven.core.scheduler import SchedulerConfig
from tests.builders import job, node, running, snapshot_with
from tests.core.harness import run_cycle

CONFIGS = [SchedulerConfig(), SchedulerConfig(policy="easy"), SchedulerConfig(preempt=True, steal=True)]


def placements(plan):
    return sorted((p.job_id, p.node) for p in plan.placements)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_job_runs_only_on_its_own_organizations_nodes(config):
    nodes = [node("a1", 2, org=1), node("b1", 4, offset=2, org=2)]
    plan = run_cycle(snapshot_with(nodes, [job(1, cores=2, org=1), job(2, cores=2, org=1), job(3, cores=4, org=2)]),
                     config)
    assert placements(plan) == [(1, "a1"), (3, "b1")]  # job 2 waits though b1 had room before job 3


def test_a_job_pinned_to_another_organizations_node_is_told_the_node_does_not_exist():
    nodes = [node("a1", 2, org=1), node("b1", 4, offset=2, org=2)]
    pinned = job(1, node="b1", org=1)
    assert never_fits(pinned, nodes).code == "unknown_node"
    plan = run_cycle(snapshot_with(nodes, [pinned]), SchedulerConfig(explain=True))
    assert plan.placements == [] and plan.waiting[1].code == "unknown_node"


def test_a_request_that_only_another_organizations_node_could_hold_never_fits():
    nodes = [node("a1", 2, org=1), node("b1", 8, offset=2, org=2)]
    assert never_fits(job(1, cores=4, org=1), nodes).code == "never_fits"
    assert never_fits(job(2, cores=4, org=2), nodes) is None


def test_clusters_of_the_same_name_in_two_organizations_keep_separate_quotas():
    nodes = [node("a1", 4, cluster="gpu", org=1), node("b1", 4, offset=4, cluster="gpu", org=2)]
    quotas = {cluster_key(1, "gpu"): Quota(cores=1), cluster_key(2, "gpu"): Quota(cores=3)}
    pending = [job(1, cluster="gpu", org=1), job(2, cluster="gpu", org=1),
               job(3, cores=3, cluster="gpu", org=2)]
    plan = run_cycle(snapshot_with(nodes, pending, quotas=quotas), SchedulerConfig(explain=True))
    assert placements(plan) == [(1, "a1"), (3, "b1")]
    assert plan.waiting[2].code == "over_quota"


def test_preemption_never_evicts_another_organizations_job():
    nodes = [node("a1", 1, org=1), node("b1", 1, offset=1, org=2)]
    low_b = running(job(9, priority=0, org=2), "b1", (1,), started_at=1.0)
    plan = run_cycle(snapshot_with(nodes, [job(1, priority=9, org=1)], [
        running(job(8, priority=9, org=1), "a1", (0,), started_at=1.0), low_b]),
        SchedulerConfig(preempt=True), now=10.0)
    assert plan.preemptions == [] and plan.placements == []
