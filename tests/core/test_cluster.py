"""The one applier: what a cluster holds after a plan, and the verifier that walks it, quotas included."""
from heaven.core.cluster import ClusterState
from heaven.core.model import Quota
from heaven.core.plan import Grow, Place, Plan, Preempt, Shrink
from heaven.core.verify import verify
from tests.builders import borrowing, job, node, running, snapshot_with


def test_apply_is_pure_and_follows_the_store_order():
    donor = running(job(1, cores=4), "n1", (0, 1, 2, 3))
    victim = running(job(2, cores=2), "n2", (8, 9))
    snap = snapshot_with([node("n1", 4), node("n2", 4, offset=8)], [job(3, cores=3)], [donor, victim])
    before = ClusterState.of_snapshot(snap)
    plan = Plan(preemptions=[Preempt(2, "n2", "test")], shrinks=[Shrink(1, "n1", (2, 3))],
                placements=[Place(3, "n2", (10, 8, 9))])
    after = before.apply(plan, now=5.0)
    assert sorted(before.parts) == [1, 2], "the state applied to is left as it was"
    assert sorted(after.parts) == [1, 3]
    shrunk, = after.parts[1]
    assert (shrunk.cores, shrunk.resized_at) == ((0, 1), 5.0)
    placed, = after.parts[3]
    assert (placed.node, placed.cores, placed.started_at) == ("n2", (8, 9, 10), 5.0)


def test_a_gang_is_one_job_with_a_part_per_node_and_lent_pairs_follow_their_cores():
    snap = snapshot_with([node("n1", 4), node("n2", 4, offset=8)], [job(1, cores=2, nodes=2)])
    after = ClusterState.of_snapshot(snap).apply(Plan(placements=[Place(1, "n1", (0, 1)), Place(1, "n2", (8, 9))]), 0)
    assert [a.node for a in after.parts[1]] == ["n1", "n2"]
    b = borrowing(job(2, cores=3), "n1", (0, 1, 2), {2: 7})
    state = ClusterState.of([node("n1", 4)], [b[1]])
    back = state.apply(Plan(shrinks=[Shrink(2, "n1", (2,))], grows=[]), 1.0)
    assert back.parts[2][0].lent == () and back.parts[2][0].cores == (0, 1)
    grown = back.apply(Plan(grows=[Grow(2, "n1", (3,))]), 2.0)
    assert grown.parts[2][0].cores == (0, 1, 3)


def test_the_verifier_rejects_a_placement_over_its_clusters_quota():
    a = running(job(1, cores=3, cluster="a"), "n1", (0, 1, 2))
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(2, cores=2, cluster="a"), job(3, cores=1, cluster="a")],
                         [a], quotas={"a": Quota(cores=4)})
    out = verify(snap, Plan(placements=[Place(2, "n1", (3, 4)), Place(3, "n1", (5,))]))
    assert [p.job_id for p in out.placements] == [3]
    (item, problem), = out.rejected
    assert item.job_id == 2 and "quota" in problem


def test_the_verifier_credits_what_an_earlier_part_freed_in_the_same_cluster():
    a = running(job(1, cores=4, cluster="a"), "n1", (0, 1, 2, 3))
    snap = snapshot_with([node("n1", 8, cluster="a")], [job(2, cores=4, cluster="a", priority=1)], [a],
                         quotas={"a": Quota(cores=4)})
    out = verify(snap, Plan(preemptions=[Preempt(1, "n1", "test")], placements=[Place(2, "n1", (4, 5, 6, 7))]))
    assert out.rejected == [] and [p.job_id for p in out.placements] == [2]


def test_a_cluster_already_over_a_lowered_quota_keeps_what_it_holds_but_grows_no_further():
    a = running(job(1, cores=4, cluster="a"), "n1", (0, 1, 2), recent_cores=3.0)
    snap = snapshot_with([node("n1", 8, cluster="a")], [], [a], quotas={"a": Quota(cores=2)})
    out = verify(snap, Plan(grows=[Grow(1, "n1", (3,))]))
    assert out.grows == [] and "quota" in out.rejected[0][1]
