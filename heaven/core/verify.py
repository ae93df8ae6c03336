"""The verifier: re-checks a plan against a (possibly fresher) snapshot.

The store's ``apply_plan`` runs this inside its transaction: the parts that
still hold are committed, the rest come back with the reason and the next cycle
decides again (Nomad's partial commit). Parts are checked in the order they are
applied — evictions, suspensions and cancellations, shrinks, resumes,
placements, grows — and each
accepted part is carried out on a ``Draft`` of the cluster (cluster.py, the one
applier), so a later part is judged against what the earlier ones left: a
placement whose cores a rejected shrink was to free is rejected in turn.

Quotas too: a placement (a gang's parts together) or a grow that would leave
its cluster above its quota is rejected. A cluster already above it (its quota
was lowered) may keep what it holds, but nothing may raise it further.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.core.cluster import ClusterState, Draft, by_job
from heaven.core.model import Quota, may_run_on
from heaven.core.plan import Cancel, Grow, Place, Plan, Preempt, Resume, Shrink, Suspend
from heaven.core.snapshot import NodeCapacity, Snapshot
from heaven.core.states import JobState, NodeState


@dataclass
class Verified:
    preemptions: list[Preempt] = field(default_factory=list)
    suspensions: list[Suspend] = field(default_factory=list)
    resumes: list[Resume] = field(default_factory=list)
    cancellations: list[Cancel] = field(default_factory=list)
    shrinks: list[Shrink] = field(default_factory=list)
    placements: list[Place] = field(default_factory=list)
    grows: list[Grow] = field(default_factory=list)
    rejected: list[tuple[object, str]] = field(default_factory=list)


def verify(snapshot: Snapshot, plan: Plan) -> Verified:
    draft = Draft(ClusterState.of_snapshot(snapshot), track=snapshot)
    caps = draft.caps
    jobs = {j.id: j for j in snapshot.jobs}
    ceiling = {key: list(used) for key, used in draft.used.items()}  # what each cluster held before the plan
    out = Verified()

    def accept(item, problem, bucket):
        if problem:
            out.rejected.append((item, problem))
        else:
            bucket.append(item)
        return not problem

    for p in plan.preemptions:
        if accept(p, None if p.job_id in draft.parts else f"job {p.job_id} is not running", out.preemptions):
            draft.evict(p)
    for p in plan.suspensions:
        job = jobs.get(p.job_id)
        problem = None if p.job_id in draft.parts and job is not None and job.state == JobState.RUNNING \
            and job.nodes == 1 else f"job {p.job_id} is not running on one node"
        if accept(p, problem, out.suspensions):
            draft.evict(p)
    for c in plan.cancellations:
        job = jobs.get(c.job_id)
        accept(c, None if job is not None and job.state == JobState.PENDING else f"job {c.job_id} is not pending",
               out.cancellations)
    for s in plan.shrinks:
        job, alloc = jobs.get(s.job_id), draft.part(s.job_id, s.node)
        problem = None
        if job is None or alloc is None:
            problem = f"job {s.job_id} is not running"
        elif not set(s.cores_removed) <= set(alloc.cores):
            problem = f"job {s.job_id} does not hold cores {sorted(s.cores_removed)}"
        elif len(alloc.cores) - len(s.cores_removed) < max(job.min_cores, 1):
            problem = f"job {s.job_id} would fall below its min_cores ({job.min_cores})"
        if accept(s, problem, out.shrinks):
            draft.shrink(s, 0.0)
    placed: set[int] = set(draft.parts)
    for r in plan.resumes:
        job = jobs.get(r.job_id)
        here = job is not None and job.suspended_on == r.node
        problem = None if here else f"job {r.job_id} is not suspended on {r.node}"
        problem = problem or _placement_problem(r, jobs, placed, caps, JobState.SUSPENDED)
        problem = problem or _over_quota(draft, snapshot.quotas, ceiling,
                                         [(caps[r.node], len(r.cores), r.memory_mb, len(r.gpu_ids))])
        if accept(r, problem, out.resumes):
            draft.resume(r, 0.0)
            placed.add(r.job_id)
    for job_id, places in by_job(plan.placements).items():  # a gang's parts are accepted together or not at all
        job = jobs.get(job_id)
        problem = None
        if job is not None and (len(places) != job.nodes or len({p.node for p in places}) != len(places)):
            problem = f"job {job_id} needs {job.nodes} parts on distinct nodes, plan gives {len(places)}"
        for place in places:
            problem = problem or _placement_problem(place, jobs, placed, caps)
        problem = problem or _over_quota(draft, snapshot.quotas, ceiling,
                                         [(caps[p.node], len(p.cores), p.memory_mb, len(p.gpu_ids)) for p in places])
        for place in places:
            accept(place, problem, out.placements)
        if problem is None:
            draft.place(places, 0.0)
            placed.add(job_id)
    for g in plan.grows:
        job, alloc = jobs.get(g.job_id), draft.part(g.job_id, g.node)
        cap = caps.get(g.node)
        problem = None
        if job is None or alloc is None or cap is None:
            problem = f"job {g.job_id} is not running"
        elif len(alloc.cores) + len(g.cores_added) > job.cores:
            problem = f"job {g.job_id} would hold more than the {job.cores} cores it asked for"
        elif not {c - cap.node.core_offset for c in g.cores_added} <= cap.free:
            problem = f"cores {sorted(g.cores_added)} are not all free on {g.node}"
        else:
            problem = _over_quota(draft, snapshot.quotas, ceiling, [(cap, len(g.cores_added), 0, 0)])
        if accept(g, problem, out.grows):
            draft.grow(g, 0.0)
    return out


def _over_quota(draft: Draft, quotas: dict[str, Quota], ceiling: dict[str, list[int]],
                adds: list[tuple[NodeCapacity, int, int, int]]) -> str | None:
    """Why adding (cores, memory, GPUs) on these nodes would raise a cluster above its quota, or None."""
    if not quotas:
        return None
    wanted: dict[str, list[int]] = {}
    for cap, cores, memory_mb, gpus in adds:
        w = wanted.setdefault(cap.node.quota_key, [0, 0, 0])
        w[0], w[1], w[2] = w[0] + cores, w[1] + memory_mb, w[2] + gpus
    for key, add in wanted.items():
        quota = quotas.get(key)
        if quota is None:
            continue
        used = draft.used.get(key, [0, 0, 0])
        before = ceiling.get(key, [0, 0, 0])
        for limit, have, more, was, label in zip((quota.cores, quota.memory_mb, quota.gpus), used, add, before,
                                                  ("cores", "memory_mb", "gpus")):
            if limit is not None and more and have + more > max(limit, was):
                return f"cluster {key} quota: {have} of {limit} {label} in use, {more} more asked"
    return None


def _placement_problem(place: Place | Resume, jobs, placed, caps, state: JobState = JobState.PENDING) -> str | None:
    """Why ``place`` (or a resume: ``state`` SUSPENDED, its node checked by the caller) no longer fits."""
    job = jobs.get(place.job_id)
    if job is None or job.state != state or place.job_id in placed:
        return f"job {place.job_id} is no longer {state}"
    cap = caps.get(place.node)
    if cap is None or cap.node.state != NodeState.UP:
        return f"node {place.node} is not up"
    # The pin, the organization and the cluster, as the planner asks it (a resume: its own node).
    if state == JobState.PENDING and not may_run_on(job, cap.node):
        return f"job {job.id} may not run on {place.node} (pinned elsewhere, or another organization or cluster)"
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
