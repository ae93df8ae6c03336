"""The verifier: re-checks a plan against a (possibly fresher) snapshot.

The store's ``apply_plan`` runs this inside its transaction: placements that
still fit are committed, the rest come back with the reason and the job stays
pending for the next cycle (Nomad's partial commit).
"""
from __future__ import annotations

from heaven.core.plan import Place, Plan
from heaven.core.snapshot import Snapshot, capacities
from heaven.core.states import JobState, NodeState


def verify(snapshot: Snapshot, plan: Plan) -> tuple[list[Place], list[tuple[Place, str]]]:
    caps = capacities(snapshot)
    jobs = {j.id: j for j in snapshot.jobs}
    placed: set[int] = {a.job_id for a in snapshot.allocations}
    accepted: list[Place] = []
    rejected: list[tuple[Place, str]] = []
    for place in plan.placements:
        problem = _problem(place, jobs, placed, caps)
        if problem:
            rejected.append((place, problem))
            continue
        cap = caps[place.node]
        cap.free.difference_update(c - cap.node.core_offset for c in place.cores)
        cap.memory_mb -= place.memory_mb
        cap.storage_mb -= place.storage_mb
        cap.gpu_ids = [g for g in cap.gpu_ids if g not in place.gpu_ids]
        placed.add(place.job_id)
        accepted.append(place)
    return accepted, rejected


def _problem(place: Place, jobs, placed, caps) -> str | None:
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
