"""Reclaim (core stealing): place a waiting job on cores running jobs leave idle.

From measured usage (``Allocation.used_cores``, an average of CPU% / 100 over
the job's whole process tree), a running job's spare cores are

    allocated − max(min_cores, ceil(used × (1 + headroom)))

For a waiting job that does not fit, the stage picks the node where the fewest
cores must be taken (free cores + spare cores must cover the request, and
memory, storage and GPUs must fit as they are; among nodes with as many free
cores, the one with the most spare, read from the cycle's reach index of
reach.py), takes spare cores there, most
spare first, shrinks those donors live (``Shrink`` in the plan) and places the
job on the free cores plus the cores taken. The donor loses its highest-numbered
cores, so what it keeps stays together.

Conservative by construction, and deliberately simple for now:
- a job with no usage samples (``used_cores is None``) is never touched;
- no donor goes below ``min_cores`` or below its use plus headroom;
- a donor is shrunk at most once per cycle, and only for a job the pipeline
  would otherwise leave waiting at the head (backfill candidates never steal);
- nothing is ever taken unless the whole request can then be placed.
- a donor changed live within ``config.cooldown`` seconds is left alone.
Warm-up is the caller's: ``used_cores`` stays None until a job has enough
samples. Giving cores back when a donor's use climbs is ``giveback.py``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from heaven.core.feasibility import Probe, Resources, feasible
from heaven.core.model import Allocation, Job, may_run_on
from heaven.core.plan import Shrink
from heaven.core.reach import Reach

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle

_EPSILON = 1e-9  # 5 × 1.2 is 6.000000000000001 in floating point: that is 6 cores, not 7


def keep(alloc: Allocation, job: Job | None, headroom: float, floor: int = 1) -> int:
    """How many cores a running job keeps when it is shrunk as far as allowed."""
    held = len(alloc.cores)
    if alloc.used_cores is None:
        return held
    min_cores = job.min_cores if job is not None else held
    return min(held, max(min_cores, floor, math.ceil(alloc.used_cores * (1.0 + headroom) - _EPSILON)))


def spare(alloc: Allocation, job: Job | None, headroom: float, floor: int = 1) -> int:
    """Cores a running job holds but, by its measured use, leaves idle."""
    return len(alloc.cores) - keep(alloc, job, headroom, floor)


class Steal:
    """The stealing action (actions.py): tried as soon as a job's direct fit fails.

    One instance per cycle, holding the cycle's index of spare cores per node
    (reach.py), built at its first attempt and recounted only where a steal or
    an eviction touched a node: an attempt looks only at nodes whose free plus
    spare cores cover the request, in the same order as a walk of every node."""

    name = "steal"
    after_pass = False

    def __init__(self) -> None:
        self.reach: Reach | None = None

    def attempt(self, cycle: Cycle, job: Job) -> bool:
        if job.node is not None:
            return steal(cycle, job)
        if self.reach is None:
            self.reach = Reach(cycle.index, lambda name: sum(n for n, _ in _donors(cycle, name)),
                               dict.fromkeys(a.node for a in cycle.snapshot.allocations))
            cycle.watchers.append(self.reach.touched)
        names = self.reach.nodes(job.cores, job.cores - 1, tightest=False)
        return steal(cycle, job, (cycle.caps[name] for name in names))


def steal(cycle: Cycle, job: Job, candidates=None) -> bool:
    """Place ``job`` on free plus reclaimed cores; False (and no change) if it cannot.

    ``candidates``: the nodes to try, the most free cores first (every node with fewer free
    cores than asked, unless given)."""
    best: tuple[int, str, list[tuple[int, Allocation]]] | None = None
    for cap in _by_free_cores(cycle, job) if candidates is None else candidates:
        node = cap.node
        if cap.free_cores >= job.cores or _capacity(node) < job.cores:
            continue  # too small ever, or cores are not what it lacks
        if not may_run_on(job, node):
            continue
        missing = job.cores - cap.free_cores
        # Every other check as it is (the shrinks' cores are not credited to the quota: the ledger stays safe).
        if feasible(job, cap, Probe(cycle.ledger, freed=Resources(cores=missing)), home_known=True) is not None:
            continue
        donors = _donors(cycle, node.name)
        if sum(n for n, _ in donors) >= missing:
            best = (missing, node.name, donors)
            break  # nodes come with the most free cores first: none later needs fewer taken
    if best is None:
        return False
    missing, name, donors = best
    cap = cycle.caps[name]
    offset = cap.node.core_offset
    taken: list[int] = []
    lent: list[tuple[int, int]] = []
    for available, alloc in donors:
        if missing == 0:
            break
        n = min(available, missing)
        removed = tuple(sorted(alloc.cores)[-n:])
        cycle.plan.shrinks.append(Shrink(alloc.job_id, name, removed))
        cycle.touched.add(alloc.job_id)
        taken.extend(c - offset for c in removed)
        lent.extend((c, alloc.job_id) for c in removed)
        missing -= n
    cycle.place(job, cap, sorted(cap.free) + sorted(taken), lent=tuple(lent))
    cycle.touch(name)
    return True


def _by_free_cores(cycle: Cycle, job: Job):
    """Candidate nodes, the most free cores first (below the request: those at or above it
    would have taken the job without stealing), so the first that works takes the fewest."""
    if job.node is not None:
        cap = cycle.caps.get(job.node)
        if cap is not None:
            yield cap
        return
    index = cycle.index
    for count in range(min(job.cores - 1, index.top), -1, -1):
        bucket = index.buckets[count]
        if bucket:
            for name in list(bucket):
                yield cycle.caps[name]


def _capacity(node) -> int:
    return node.schedulable_cores if node.reserved else node.total_cores


def _donors(cycle: Cycle, node: str) -> list[tuple[int, Allocation]]:
    """(spare cores, allocation) of the jobs on ``node`` that may give, most spare first."""
    config = cycle.config
    jobs = cycle.jobs
    donors = []
    for alloc in cycle.allocations_on(node):
        if alloc.used_cores is None or alloc.job_id in cycle.touched:
            continue
        if jobs.get(alloc.job_id) is not None and jobs[alloc.job_id].nodes > 1:
            continue  # a gang's part is never shrunk
        if alloc.resized_at is not None and cycle.now - alloc.resized_at < config.cooldown:
            continue  # not shrunk twice within the cool-down
        n = spare(alloc, jobs.get(alloc.job_id), config.headroom, config.min_cores)
        if n > 0:
            donors.append((n, alloc))
    donors.sort(key=lambda d: (-d[0], d[1].job_id))
    return donors
