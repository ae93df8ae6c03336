"""The pipeline: one scheduling cycle from a snapshot to a plan.

    snapshot ─▶ order queue ─▶ for each job: direct fit ─▶ reclaim (steal) ─▶ blocked head
                 (queue.py)       (placement.py)         (reclaim.py)             │
                                                                                  ▼
                                                 backfill around its reservation (backfill.py)

Policies (``SchedulerConfig.policy``):
- ``greedy`` (controller default): every job in queue order takes the best node
  that fits now; a job that does not fit does not hold back smaller ones behind it.
- ``fcfs``: strict first-come-first-served: once a job cannot start, nothing
  behind it starts in this cycle (jobs pinned to another node included).
- ``rl-backfill``: the backfilling of RLScheduler (Zhang et al., SC'20): the
  blocked head's reservation is fixed once and kept, through the snapshot,
  until it starts; later jobs start if they fit now and end strictly before it.
- ``easy``: true EASY (Mu'alem & Feitelson): the reservation is recomputed every
  cycle and a later job may also start if it only uses cores the head will not
  need at its reservation ("extra" cores).

``steal`` adds the reclaim stage: a job that does not fit may take idle cores
from running jobs (see reclaim.py). ``hold_head`` keeps the blocked head first
across cycles even when the ordering would now put another job before it (the
published protocol's behaviour; rl-backfill always holds). ``explain=False``
skips the per-job reasons and positions, and stops a strict cycle at the
blocked head: the simulator runs a cycle per event and needs it cheap.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from heaven.core import backfill, queue, reasons, reclaim
from heaven.core.feasibility import first_reason
from heaven.core.model import Job, Reservation
from heaven.core.placement import BEST_FIT, LEAST_LOADED, FreeIndex, choose_cores, find_node
from heaven.core.plan import Place, Plan
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity, Snapshot, capacities
from heaven.core.states import JobState

POLICIES = ("greedy", "fcfs", "rl-backfill", "easy")
BACKFILLING = ("rl-backfill", "easy")


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    policy: str = "greedy"
    order: str = "priority"
    placement: str = BEST_FIT
    steal: bool = False
    # A donor keeps max(min_cores, ceil(used × (1 + headroom))) cores.
    headroom: float = 0.2
    hold_head: bool = False
    explain: bool = True

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        if self.order not in queue.ORDERINGS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {', '.join(queue.ORDERINGS)}")
        if self.placement not in (BEST_FIT, LEAST_LOADED):
            raise ValueError(f"unknown placement {self.placement!r}")
        if self.headroom < 0:
            raise ValueError("headroom must be >= 0")


class _Index(FreeIndex):
    """FreeIndex with the same candidate order, minus a list built per empty bucket.

    A node of 256 cores has 257 buckets, almost all empty; the simulator asks
    for candidates hundreds of thousands of times per replay.
    """

    def candidates(self, need: int, rule: str):
        buckets = self.buckets
        counts = range(need, len(buckets))
        if rule == LEAST_LOADED:
            counts = reversed(counts)
        for count in counts:
            if buckets[count]:
                yield from list(buckets[count])  # copy: the caller may move the node


class Cycle:
    """The mutable state of one cycle: what is still free as the plan grows.

    Created fresh by every ``schedule`` call and shared by its stages.
    """

    __slots__ = ("snapshot", "now", "config", "plan", "caps", "index", "_jobs", "_largest")

    def __init__(self, snapshot: Snapshot, now: float, config: SchedulerConfig) -> None:
        self.snapshot = snapshot
        self.now = now
        self.config = config
        self.plan = Plan()
        self.caps = capacities(snapshot)
        self.index = _Index(self.caps)
        self._jobs: dict[int, Job] | None = None
        self._largest: int | None = None

    @property
    def jobs(self) -> dict[int, Job]:
        """Every active job by id (built on first use: most cycles never need it)."""
        if self._jobs is None:
            self._jobs = {j.id: j for j in self.snapshot.jobs}
        return self._jobs

    def largest_free(self, excluding: str | None = None) -> int:
        """The most free cores on any ready node (but ``excluding``): a job larger fits nowhere."""
        if excluding is not None:
            return max((c.free_cores for c in self.caps.values() if c.ready and c.node.name != excluding), default=0)
        if self._largest is None:
            self._largest = max((c.free_cores for c in self.caps.values() if c.ready), default=0)
        return self._largest

    def fit(self, job: Job, avoid: str | None = None) -> tuple[NodeCapacity | None, Reason | None]:
        """The node ``job`` goes to now (never ``avoid``), or why it can go nowhere.

        Without ``explain`` a job larger than every free block is turned away
        before any node is looked at, with no reason built.
        """
        if job.cores > self.largest_free() and not self.config.explain:
            return None, None
        cap, reason = find_node(job, self.index, self.config.placement)
        if cap is None or avoid is None or cap.node.name != avoid:
            return cap, reason
        if job.node is None:
            for name in self.index.candidates(job.cores, self.config.placement):
                other = self.caps[name]
                if name == avoid or (job.cluster is not None and other.node.cluster != job.cluster):
                    continue
                if first_reason(job, other) is None:
                    return other, None
        return None, Reason(reasons.BLOCKED_BY_HEAD, f"would delay the job reserved on {avoid}", "cores")

    def wait(self, job: Job, reason: Reason | None) -> None:
        """Record why ``job`` stays pending (only when explaining)."""
        if self.config.explain and reason is not None:
            self.plan.waiting[job.id] = reason

    def place(self, job: Job, cap: NodeCapacity, positions: list[int] | None = None) -> Place:
        """Grant ``job`` cores on ``cap`` (its own choice of free cores unless given)."""
        before = cap.free_cores
        if positions is None:
            positions = choose_cores(cap.free, job.cores)
        gpu_ids = cap.take(positions, job.memory_mb, job.storage_mb, job.gpus)
        if cap.ready:
            self.index.moved(cap.node.name, before)
        self._largest = None
        cores = tuple(cap.node.global_index(p) for p in positions)
        place = Place(job.id, cap.node.name, cores, job.memory_mb, job.storage_mb, gpu_ids)
        self.plan.placements.append(place)
        self.plan.counts.scheduled += 1
        return place


def schedule(snapshot: Snapshot, now: float, rng: random.Random, config: SchedulerConfig) -> Plan:
    """Return the plan for one cycle. Pure: ``now`` and ``rng`` are the only
    sources of time and chance (rng breaks no ties yet; it is part of the
    contract so the simulator stays deterministic as policies grow)."""
    del rng
    cycle = Cycle(snapshot, now, config)
    plan = cycle.plan
    ordered = _ordered(snapshot, config)
    if config.explain:
        plan.positions = {job.id: position for position, job in enumerate(ordered, start=1)}
    head_at: int | None = None
    for i, job in enumerate(ordered):
        cap, reason = cycle.fit(job)
        if cap is not None:
            cycle.place(job, cap)
            continue
        if config.steal and reclaim.steal(cycle, job):
            continue
        plan.counts.unschedulable += 1
        cycle.wait(job, reason)
        if config.policy != "greedy":
            head_at = i
            break
    if head_at is None:
        return plan
    head, rest = ordered[head_at], ordered[head_at + 1:]
    if config.policy in BACKFILLING:
        plan.reservation = backfill.protect(cycle, head, rest, snapshot.reservation)
    else:
        plan.reservation = Reservation(head.id)
    if config.explain:
        why = _blocked(head, plan.reservation)
        placed = {p.job_id for p in plan.placements}
        for job in rest:
            if job.id not in plan.waiting and job.id not in placed:
                plan.waiting[job.id] = why
    return plan


def _ordered(snapshot: Snapshot, config: SchedulerConfig) -> list[Job]:
    """The pending jobs in queue order, the held head first."""
    ordered = queue.order(snapshot.pending(), config.order)
    held = snapshot.reservation
    if held is None or not (config.hold_head or config.policy == "rl-backfill") or not ordered:
        return ordered
    if ordered[0].id == held.job_id:
        return ordered
    for i, job in enumerate(ordered):
        if job.id == held.job_id and job.state == JobState.PENDING:
            return [job, *ordered[:i], *ordered[i + 1:]]
    return ordered


def _blocked(head: Job, reservation: Reservation) -> Reason:
    when = "" if reservation.start is None else f", reserved to start at t={reservation.start:g}"
    return Reason(reasons.BLOCKED_BY_HEAD, f"waiting behind job {head.id}{when}")
