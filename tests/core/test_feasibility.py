"""The one feasibility list: every check, its order, and what a stage may credit first."""
from heaven.core import reasons
from heaven.core.feasibility import CHECKERS, Probe, Resources, at_home, feasible
from heaven.core.model import Quota
from heaven.core.quotas import OVER_QUOTA, QuotaLedger
from heaven.core.snapshot import capacities
from heaven.core.states import NodeState
from tests.builders import job, node, running, snapshot_with


def caps_of(*nodes, running_jobs=(), quotas=None):
    snap = snapshot_with(list(nodes), [], list(running_jobs), quotas=quotas or {})
    return snap, capacities(snap)


def test_the_list_is_home_then_quota_then_readiness_then_every_resource():
    names = [check.__name__ for check in CHECKERS]
    assert names == ["at_home", "within_quota", "node_ready", "enough_cores", "enough_memory", "enough_storage",
                     "enough_gpus"]


def test_home_refusals_name_pin_organization_and_cluster():
    _, caps = caps_of(node("n1", 4, cluster="a", org=1), node("n2", 4, cluster="b", org=1))
    assert at_home(job(1, node="n2"), caps["n1"]).code == reasons.PINNED_ELSEWHERE
    assert at_home(job(2, org=2), caps["n1"]).code == reasons.UNKNOWN_NODE
    assert at_home(job(3, org=1, cluster="b"), caps["n1"]).code == reasons.WRONG_CLUSTER
    assert at_home(job(4, org=1, cluster="a"), caps["n1"]) is None


def test_a_down_node_and_each_missing_resource_have_their_own_reason():
    _, caps = caps_of(node("n1", 2, memory_mb=1024, state=NodeState.DOWN), node("n2", 2, memory_mb=1024, gpus=1))
    assert feasible(job(1), caps["n1"]).code == reasons.NODE_NOT_READY
    assert feasible(job(2, cores=3), caps["n2"]).code == reasons.INSUFFICIENT_CPU
    assert feasible(job(3, memory_mb=2048), caps["n2"]).code == reasons.INSUFFICIENT_MEMORY
    assert feasible(job(4, storage_mb=1), caps["n2"]).code == reasons.INSUFFICIENT_STORAGE
    assert feasible(job(5, gpus=2), caps["n2"]).code == reasons.INSUFFICIENT_GPU
    assert feasible(job(6, cores=2, memory_mb=1024, gpus=1), caps["n2"]) is None


def test_what_a_stage_frees_first_counts_on_the_node():
    a = running(job(1, cores=3, memory_mb=512), "n1", (0, 1, 2))
    _, caps = caps_of(node("n1", 4, memory_mb=1024), running_jobs=[a])
    big = job(2, cores=3, memory_mb=800)
    assert feasible(big, caps["n1"]).code == reasons.INSUFFICIENT_CPU
    assert feasible(big, caps["n1"], Probe(freed=Resources(cores=2))).code == reasons.INSUFFICIENT_MEMORY
    assert feasible(big, caps["n1"], Probe(freed=Resources(cores=2, memory_mb=512))) is None


def test_the_quota_is_checked_before_room_and_credited_only_when_the_stage_says_so():
    a = running(job(1, cores=3, cluster="a"), "n1", (0, 1, 2))
    snap, caps = caps_of(node("n1", 8, cluster="a"), running_jobs=[a], quotas={"a": Quota(cores=4)})
    ledger = QuotaLedger(snap)
    j = job(2, cores=6)
    assert feasible(j, caps["n1"], Probe(ledger)).code == OVER_QUOTA  # not "insufficient CPU": room would not help
    freed = Resources(cores=3)
    assert feasible(j, caps["n1"], Probe(ledger, freed=freed)).code == OVER_QUOTA
    assert feasible(job(3, cores=4), caps["n1"], Probe(ledger, freed=freed, quota_freed=freed)) is None


def test_a_gangs_parts_in_one_cluster_are_held_to_its_quota_together():
    snap, caps = caps_of(node("n1", 8, cluster="a"), quotas={"a": Quota(cores=6)})
    ledger = QuotaLedger(snap)
    assert feasible(job(1, cores=3, nodes=2), caps["n1"], Probe(ledger, parts=2)) is None
    assert feasible(job(1, cores=3, nodes=3), caps["n1"], Probe(ledger, parts=3)).code == OVER_QUOTA
