"""The reach index: stealing and eviction look only at nodes that can serve, and choose as a full walk would."""
import random

from heaven.core.config import SchedulerConfig
from heaven.core.cycle import Cycle
from heaven.core.preemption import Evict, evict_for
from heaven.core.reach import Reach
from heaven.core.reclaim import Steal, steal
from heaven.core.snapshot import Snapshot
from tests.builders import job, node, running, snapshot


def busy_cluster(seed: int, nodes: int = 12) -> Snapshot:
    rng = random.Random(seed)
    ns = [node(f"n{i:02d}", 16, offset=16 * i, memory_mb=1 << 20) for i in range(nodes)]
    held, next_id = [], 1
    for n in ns:
        position = 0
        while position < rng.randint(4, 16):
            cores = min(rng.randint(1, 6), 16 - position)
            j = job(next_id, cores=cores, priority=rng.randint(0, 2))
            held.append(running(j, n.name, tuple(n.core_offset + p for p in range(position, position + cores)),
                                used_cores=cores * rng.uniform(0.05, 1.0), started_at=-rng.uniform(1, 100)))
            position += cores
            next_id += 1
    pending = [job(next_id + i, cores=rng.randint(1, 12), priority=rng.randint(0, 3)) for i in range(40)]
    return snapshot(ns, pending, held)


def test_only_nodes_that_can_serve_are_offered_the_most_free_first_then_the_tightest_reach():
    snap = busy_cluster(1)
    cycle = Cycle(snap, 0.0, SchedulerConfig(steal=True))
    amounts = {n.name: i % 5 for i, n in enumerate(snap.nodes)}
    reach = Reach(cycle.index, lambda name: amounts[name], [n.name for n in snap.nodes])
    need = 6
    offered = list(reach.nodes(need, need - 1))
    serving = {n.name for n in snap.nodes if cycle.caps[n.name].free_cores < need
               and cycle.caps[n.name].free_cores + amounts[n.name] >= need}
    assert set(offered) == serving and len(offered) == len(serving)
    keys = [(-cycle.caps[n].free_cores, amounts[n]) for n in offered]
    assert keys == sorted(keys)


def test_a_node_follows_its_free_cores_and_a_recount():
    snap = busy_cluster(2)
    cycle = Cycle(snap, 0.0, SchedulerConfig(steal=True))
    amounts = {"n00": 5}
    reach = Reach(cycle.index, lambda name: amounts.get(name, 0), [n.name for n in snap.nodes])
    cap = cycle.caps["n00"]
    cycle.take(cap, sorted(cap.free)[:1])  # n00 moves down one row
    assert reach.where["n00"] == (cap.free_cores, 5) and "n00" in reach.grid[cap.free_cores][5]
    assert "n00" in list(reach.nodes(cap.free_cores + 5, cap.free_cores))
    amounts["n00"] = 0
    reach.touched("n00")
    assert "n00" not in list(reach.nodes(cap.free_cores + 1, cap.free_cores))


def test_stealing_through_the_index_succeeds_exactly_when_a_walk_of_every_node_does():
    for seed in range(20):
        snap = busy_cluster(seed)
        config = SchedulerConfig(steal=True, headroom=0.25)
        for j in snap.pending():
            indexed, walked = Cycle(snap, 0.0, config), Cycle(snap, 0.0, config)
            assert Steal().attempt(indexed, j) == steal(walked, j), f"seed {seed}, job {j.id}"
            got, want = indexed.plan.placements, walked.plan.placements
            if want:  # on a node with as many free cores: as few taken from donors
                assert snap_free(snap, got[0].node) == snap_free(snap, want[0].node)


def snap_free(snap, name):
    return Cycle(snap, 0.0, SchedulerConfig()).caps[name].free_cores


def test_eviction_through_the_index_chooses_as_an_exhaustive_search_in_a_small_cluster():
    for seed in range(20):
        snap = busy_cluster(seed, nodes=6)  # fewer candidates than the sample: the choice must be the best one
        config = SchedulerConfig(preempt=True)
        indexed, walked = Cycle(snap, 0.0, config), Cycle(snap, 0.0, config)
        action = Evict()
        for j in snap.pending():
            action.hopeless.clear()  # the shape memo is the pipeline's shortcut, not what is compared here
            assert action.attempt(indexed, j) == evict_for(walked, j), f"seed {seed}, job {j.id}"
        assert indexed.plan.preemptions == walked.plan.preemptions
        assert indexed.plan.placements == walked.plan.placements
