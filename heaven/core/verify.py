"""The verifier: re-checks a plan against a (possibly fresher) snapshot.

The store's ``apply_plan`` runs this inside its transaction: the parts that
still hold are committed, the rest come back with the reason and the next cycle
decides again (Nomad's partial commit). Parts are checked in the order they are
applied: evictions and cancellations, shrinks, placements, grows; a placement
whose cores a rejected shrink was to free is rejected in turn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.core.plan import Cancel, Grow, Place, Plan, Preempt, Shrink
from heaven.core.snapshot import NodeCapacity, Snapshot, capacities
from heaven.core.states import JobState, NodeState


@dataclass
class Verified:
    preemptions: list[Preempt] = field(default_factory=list)
    cancellations: list[Cancel] = field(default_factory=list)
    shrinks: list[Shrink] = field(default_factory=list)
    placements: list[Place] = field(default_factory=list)
    grows: list[Grow] = field(default_factory=list)
    rejected: list[tuple[object, str]] = field(default_factory=list)


def verify(snapshot: Snapshot, plan: Plan) -> Verified:
    caps = capacities(snapshot)
    jobs = {j.id: j for j in snapshot.jobs}
    held = {a.job_id: a for a in snapshot.allocations}
    cores_of = {a.job_id: set(a.cores) for a in snapshot.allocations}
    out = Verified()

    def accept(item, problem, bucket):
        if problem:
            out.rejected.append((item, problem))
        else:
            bucket.append(item)
        return not problem

    for p in plan.preemptions:
        alloc = held.get(p.job_id)
        if accept(p, None if alloc is not None and p.job_id in cores_of else f"job {p.job_id} is not running", out.preemptions):
            cap = caps[alloc.node]
            _free(cap, cores_of.pop(p.job_id), alloc.memory_mb, alloc.storage_mb, alloc.gpu_ids)
    for c in plan.cancellations:
        job = jobs.get(c.job_id)
        accept(c, None if job is not None and job.state == JobState.PENDING else f"job {c.job_id} is not pending",
               out.cancellations)
    for s in plan.shrinks:
        job, mine = jobs.get(s.job_id), cores_of.get(s.job_id)
        problem = None
        if job is None or mine is None:
            problem = f"job {s.job_id} is not running"
        elif not set(s.cores_removed) <= mine:
            problem = f"job {s.job_id} does not hold cores {sorted(s.cores_removed)}"
        elif len(mine) - len(s.cores_removed) < max(job.min_cores, 1):
            problem = f"job {s.job_id} would fall below its min_cores ({job.min_cores})"
        if accept(s, problem, out.shrinks):
            mine.difference_update(s.cores_removed)
            _free(caps[held[s.job_id].node], set(s.cores_removed))
    placed: set[int] = set(held)
    parts: dict[int, list[Place]] = {}
    for place in plan.placements:
        parts.setdefault(place.job_id, []).append(place)
    for job_id, places in parts.items():  # a gang's parts are accepted together or not at all
        job = jobs.get(job_id)
        problem = None
        if job is not None and (len(places) != job.nodes or len({p.node for p in places}) != len(places)):
            problem = f"job {job_id} needs {job.nodes} parts on distinct nodes, plan gives {len(places)}"
        for place in places:
            problem = problem or _placement_problem(place, jobs, placed, caps)
        for place in places:
            accept(place, problem, out.placements)
        if problem is None:
            for place in places:
                _take(caps[place.node], place.cores, place.memory_mb, place.storage_mb, place.gpu_ids)
            placed.add(job_id)
    for g in plan.grows:
        job, mine = jobs.get(g.job_id), cores_of.get(g.job_id)
        cap = caps.get(g.node)
        problem = None
        if job is None or mine is None or cap is None:
            problem = f"job {g.job_id} is not running"
        elif len(mine) + len(g.cores_added) > job.cores:
            problem = f"job {g.job_id} would hold more than the {job.cores} cores it asked for"
        elif not {c - cap.node.core_offset for c in g.cores_added} <= cap.free:
            problem = f"cores {sorted(g.cores_added)} are not all free on {g.node}"
        if accept(g, problem, out.grows):
            mine.update(g.cores_added)
            _take(cap, g.cores_added)
    return out


def _free(cap: NodeCapacity, cores: set[int], memory_mb: int = 0, storage_mb: int = 0, gpu_ids=()) -> None:
    cap.free.update(c - cap.node.core_offset for c in cores)
    cap.memory_mb += memory_mb
    cap.storage_mb += storage_mb
    cap.gpu_ids.extend(gpu_ids)


def _take(cap: NodeCapacity, cores, memory_mb: int = 0, storage_mb: int = 0, gpu_ids=()) -> None:
    cap.free.difference_update(c - cap.node.core_offset for c in cores)
    cap.memory_mb -= memory_mb
    cap.storage_mb -= storage_mb
    cap.gpu_ids = [g for g in cap.gpu_ids if g not in gpu_ids]


def _placement_problem(place: Place, jobs, placed, caps) -> str | None:
    job = jobs.get(place.job_id)
    if job is None or job.state != JobState.PENDING or place.job_id in placed:
        return f"job {place.job_id} is no longer pending"
    cap = caps.get(place.node)
    if cap is None or cap.node.state != NodeState.UP:
        return f"node {place.node} is not up"
    if job.node is not None and job.node != place.node:
        return f"job {job.id} is pinned to {job.node}"
    if len(set(place.cores)) != len(place.cores) or len(place.cores) != job.cores:
        return f"job {job.id} needs {job.cores} distinct cores, plan gives {len(set(place.cores))}"
    positions = {c - cap.node.core_offset for c in place.cores}
    if not positions <= cap.free:
        return f"cores {sorted(place.cores)} are not all free on {place.node}"
    if place.memory_mb > cap.memory_mb or place.storage_mb > cap.storage_mb:
        return f"node {place.node} lacks memory or storage for job {job.id}"
    if not set(place.gpu_ids) <= set(cap.gpu_ids):
        return f"GPUs {place.gpu_ids} are not free on {place.node}"
    return None
