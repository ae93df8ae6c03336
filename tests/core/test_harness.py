"""The harness judges the core: these tests make sure its applier and its invariants can fail."""
import pytest

from heaven.core.model import Allocation, Quota
from heaven.core.plan import Place, Plan
from heaven.core.states import JobState
from tests.builders import job, node, snapshot_with
from tests.core.harness import PLACED, InvariantBroken, Model, QuotaExceeded

GANG = job(1, cores=2, nodes=2, memory_mb=100)
TWO_NODES = [node("n1", 2, cluster="a", gpus=1), node("n2", 2, offset=2, cluster="a", gpus=1)]


def gang_plan(*nodes_and_cores):
    return Plan(placements=[Place(1, name, cores, memory_mb=100) for name, cores in nodes_and_cores])


def test_a_gang_is_one_job_with_one_part_per_node():
    m = Model.of(snapshot_with(TWO_NODES, [GANG]))
    m.apply(gang_plan(("n1", (0, 1)), ("n2", (2, 3))))
    m.check()
    assert m.jobs[1].state == PLACED and [a.node for a in m.allocs[1]] == ["n1", "n2"]
    # One start, not one per part.
    assert [e.new for e in m.events if e.action == "transition"] == [str(JobState.ASSIGNED), str(PLACED)]
    assert [(a.job_id, a.node) for a in m.snapshot().allocations] == [(1, "n1"), (1, "n2")]
    assert m.complete(1) and m.allocs == {} and not m.complete(1)
    m.check()


def test_a_gang_with_a_part_missing_breaks_an_invariant():
    m = Model.of(snapshot_with(TWO_NODES, [GANG]))
    m.apply(gang_plan(("n1", (0, 1))))
    with pytest.raises(InvariantBroken, match="asked for 2 nodes"):
        m.check()


def test_losing_a_node_loses_every_part_of_a_gang():
    m = Model.of(snapshot_with(TWO_NODES, [GANG]))
    m.apply(gang_plan(("n1", (0, 1)), ("n2", (2, 3))))
    assert m.lose_node("n2") == 1
    assert m.allocs == {} and m.pending() == [1]
    m.check()


@pytest.mark.parametrize("quota, what", [
    (Quota(cores=3), "cores"),
    (Quota(memory_mb=150), "memory_mb"),
    (Quota(gpus=1), "gpus"),
])
def test_the_quota_invariant_counts_cores_memory_and_gpus(quota, what):
    # Two jobs of 2 cores, 100 MB and 1 GPU each, one per node: 4 cores, 200 MB and 2 GPUs in cluster a.
    m = Model.of(snapshot_with(TWO_NODES, [job(1, cores=2, memory_mb=100, gpus=1),
                                           job(2, cores=2, memory_mb=100, gpus=1)], quotas={"a": quota}))
    m.apply(Plan(placements=[Place(1, "n1", (0, 1), memory_mb=100, gpu_ids=(0,)),
                             Place(2, "n2", (2, 3), memory_mb=100, gpu_ids=(0,))]))
    with pytest.raises(QuotaExceeded, match=f"holds .* {what}, over its quota"):
        m.check()


def test_the_quota_invariant_holds_at_exactly_the_quota():
    m = Model.of(snapshot_with(TWO_NODES, [], quotas={"a": Quota(cores=2, memory_mb=100, gpus=1)}))
    m.jobs[1] = job(1, cores=2, memory_mb=100, gpus=1, state=PLACED)
    m.allocs[1] = [Allocation(1, "n1", (0, 1), memory_mb=100, gpu_ids=(0,))]
    m.check()
