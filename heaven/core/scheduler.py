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

A gang (``Job.nodes > 1``, see gang.py) that cannot start blocks a strict or
backfilling pass like any other head; greedy lets later jobs pass it. The
backfilling policies cannot reason about a gang's reservation (it needs cores on
several nodes at once), so a gang head is held with no start time
(``Reservation(head.id)``) and nothing behind it is backfilled until it starts.

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

from heaven.core import backfill, dependencies, gang, giveback, preemption, queue, reasons, reclaim
from heaven.core.feasibility import first_reason
from heaven.core.model import Allocation, Job, Reservation, in_home
from heaven.core.placement import BEST_FIT, LEAST_LOADED, FreeIndex, choose_cores, find_node
from heaven.core.plan import Cancel, Place, Plan
from heaven.core.quotas import QuotaLedger
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
    # Seconds after a live shrink or grow before the same job may be shrunk again.
    cooldown: float = 0.0
    # No job is ever shrunk below this many cores (nor below its own min_cores).
    min_cores: int = 1
    preempt: bool = False
    victim_order: str = preemption.NEWEST_FIRST

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        if self.order not in queue.ORDERINGS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {', '.join(queue.ORDERINGS)}")
        if self.placement not in (BEST_FIT, LEAST_LOADED):
            raise ValueError(f"unknown placement {self.placement!r}")
        if self.headroom < 0:
            raise ValueError("headroom must be >= 0")
        if self.victim_order not in preemption.VICTIM_ORDERS:
            raise ValueError(f"unknown victim order {self.victim_order!r}; choose one of {', '.join(preemption.VICTIM_ORDERS)}")


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

    __slots__ = ("snapshot", "now", "config", "plan", "caps", "index", "_jobs", "_on_node", "touched", "ledger")

    def __init__(self, snapshot: Snapshot, now: float, config: SchedulerConfig) -> None:
        self.snapshot = snapshot
        self.now = now
        self.config = config
        self.plan = Plan()
        self.caps = capacities(snapshot)
        self.index = _Index(self.caps)
        self._jobs: dict[int, Job] | None = None
        self._on_node: dict[str, list[Allocation]] | None = None
        self.touched: set[int] = set()  # running jobs already shrunk, grown or evicted in this plan
        self.ledger = QuotaLedger(snapshot)

    @property
    def jobs(self) -> dict[int, Job]:
        """Every active job by id (built on first use: most cycles never need it)."""
        if self._jobs is None:
            self._jobs = {j.id: j for j in self.snapshot.jobs}
        return self._jobs

    def allocations_on(self, node: str) -> list[Allocation]:
        """The running allocations of one node (grouped on first use, once per cycle)."""
        if self._on_node is None:
            self._on_node = {}
            for alloc in self.snapshot.allocations:
                self._on_node.setdefault(alloc.node, []).append(alloc)
        return self._on_node.get(node, [])

    def largest_free(self, excluding: str | None = None) -> int:
        """The most free cores on any ready node (but ``excluding``): a job larger fits nowhere.

        Read from the free-core buckets, never by walking the nodes."""
        buckets, top = self.index.buckets, self.index.top
        if excluding is None:
            return top
        for count in range(top, 0, -1):
            if any(name != excluding for name in buckets[count]):
                return count
        return 0

    def fit(self, job: Job, avoid: str | None = None) -> tuple[NodeCapacity | None, Reason | None]:
        """The node ``job`` goes to now (never ``avoid``), or why it can go nowhere.

        Without ``explain`` a job larger than every free block is turned away
        before any node is looked at, with no reason built.
        """
        if not self.config.explain and job.cores > self.largest_free():
            return None, None
        admit = self.ledger.check if self.ledger.quotas else None
        cap, reason = find_node(job, self.index, self.config.placement, admit)
        if cap is None or avoid is None or cap.node.name != avoid:
            return cap, reason
        if job.node is None:
            for name in self.index.candidates(job.cores, self.config.placement):
                other = self.caps[name]
                if name == avoid or not in_home(job, other.node):
                    continue
                if first_reason(job, other) is None and (admit is None or admit(job, other) is None):
                    return other, None
        return None, Reason(reasons.BLOCKED_BY_HEAD, f"would delay the job reserved on {avoid}", "cores")

    def wait(self, job: Job, reason: Reason | None) -> None:
        """Record why ``job`` stays pending (only when explaining)."""
        if self.config.explain and reason is not None:
            self.plan.waiting[job.id] = reason

    def take(self, cap: NodeCapacity, positions: list[int], memory_mb: int = 0, storage_mb: int = 0,
             gpus: int = 0) -> tuple[int, ...]:
        """Mark cores (positions) and other resources of ``cap`` as used; returns the GPU ids taken."""
        before = cap.free_cores
        gpu_ids = cap.take(positions, memory_mb, storage_mb, gpus)
        if cap.ready:
            self.index.moved(cap.node.name, before)
        return gpu_ids

    def release(self, alloc: Allocation) -> None:
        """Everything a running job holds becomes free (it is evicted in this plan)."""
        cap = self.caps[alloc.node]
        before = cap.free_cores
        cap.free.update(c - cap.node.core_offset for c in alloc.cores)
        cap.memory_mb += alloc.memory_mb
        cap.storage_mb += alloc.storage_mb
        cap.gpu_ids.extend(alloc.gpu_ids)
        if cap.ready:
            self.index.moved(cap.node.name, before)
        self.touched.add(alloc.job_id)
        self.ledger.charge(cap.node.quota_key, -len(alloc.cores), -alloc.memory_mb, -len(alloc.gpu_ids))

    def place(self, job: Job, cap: NodeCapacity, positions: list[int] | None = None,
              lent: tuple[tuple[int, int], ...] = ()) -> Place:
        """Grant ``job`` cores on ``cap`` (its own choice of free cores unless given)."""
        if positions is None:
            positions = choose_cores(cap.free, job.cores)
        gpu_ids = self.take(cap, positions, job.memory_mb, job.storage_mb, job.gpus)
        self.ledger.charge(cap.node.quota_key, job.cores, job.memory_mb, job.gpus)
        cores = tuple(cap.node.global_index(p) for p in positions)
        place = Place(job.id, cap.node.name, cores, job.memory_mb, job.storage_mb, gpu_ids, lent)
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
    if config.steal:
        giveback.give_back(cycle)  # a donor whose use climbs is served before anyone waiting
    head_at: int | None = None
    unplaced: list[Job] = []
    # Capacity only shrinks within a cycle, so a request shape that found no room
    # finds none later either: its reason is reused instead of searching again.
    no_room: dict[tuple, Reason | None] = {}
    for i, job in enumerate(ordered):
        if job.depends_on:
            gate = dependencies.blocker(job, snapshot.ended)
            if isinstance(gate, Cancel):
                plan.cancellations.append(gate)
                continue
            if gate is not None:
                cycle.wait(job, gate)
                continue
        if job.nodes > 1:  # gangs neither steal nor evict
            why = gang.place(cycle, job)
            if why is None:
                continue
            unplaced.append(job)
            cycle.wait(job, why)
            if config.policy != "greedy":
                head_at = i  # a blocked gang is a blocked head like any other
                break
            continue
        shape = _shape(job)
        if shape in no_room:
            unplaced.append(job)
            cycle.wait(job, no_room[shape])
            if config.policy != "greedy":
                head_at = i
                break
            continue
        cap, reason = cycle.fit(job)
        if cap is not None:
            cycle.place(job, cap)
            continue
        if config.steal and reclaim.steal(cycle, job):
            continue
        no_room[shape] = reason
        unplaced.append(job)
        cycle.wait(job, reason)
        if config.policy != "greedy":
            head_at = i
            break
    evicted_for = 0
    if config.preempt:
        hopeless: dict[tuple, int] = {}  # shape -> highest priority that could not evict enough
        for job in unplaced:  # phase two: evict only for jobs nothing else could place
            if job.nodes > 1:
                continue
            shape = _shape(job)
            if hopeless.get(shape, -10**9) >= job.priority:
                continue
            if not preemption.evict_for(cycle, job):
                hopeless[shape] = job.priority
            else:
                evicted_for += 1
                plan.waiting.pop(job.id, None)
                if head_at is not None and ordered[head_at] is job:
                    head_at = None
    plan.counts.unschedulable = len(unplaced) - evicted_for
    if config.explain:
        _count_higher_priority_ahead(ordered, plan)
    if head_at is None:
        return plan
    head, rest = ordered[head_at], ordered[head_at + 1:]
    if config.policy in BACKFILLING:
        # Only jobs free to start may backfill; the others get their dependency reason below.
        ready = [j for j in rest if j.nodes == 1 and (not j.depends_on or dependencies.blocker(j, snapshot.ended) is None)]
        for job in rest:
            if job.depends_on and job not in ready:
                gate = dependencies.blocker(job, snapshot.ended)
                if isinstance(gate, Cancel):
                    plan.cancellations.append(gate)
                else:
                    cycle.wait(job, gate)
        if head.nodes > 1:
            # backfill.protect reserves cores on one node; it cannot tell when, nor on which nodes, a gang's
            # parts will all fit. So a gang head gets no start time and nothing backfills past it: the pass
            # stays strict, as fcfs, until the gang starts.
            plan.reservation = Reservation(head.id)
        else:
            plan.reservation = backfill.protect(cycle, head, ready, snapshot.reservation)
    else:
        plan.reservation = Reservation(head.id)
    if config.explain:
        why = _blocked(head, plan.reservation)
        placed = {p.job_id for p in plan.placements}
        for job in rest:
            if job.id not in plan.waiting and job.id not in placed:
                plan.waiting[job.id] = why
    return plan


def _shape(job: Job) -> tuple:
    return (job.cores, job.memory_mb, job.storage_mb, job.gpus, job.node, job.cluster, job.org)


def _count_higher_priority_ahead(ordered: list[Job], plan: Plan) -> None:
    """Add "; N higher-priority jobs ahead" to the reason of every waiting job that has them."""
    placed = {p.job_id for p in plan.placements}
    ahead: dict[int, int] = {}  # priority -> waiting jobs seen so far with that priority
    for job in ordered:
        higher = sum(n for priority, n in ahead.items() if priority > job.priority)
        reason = plan.waiting.get(job.id)
        if reason is not None and higher:
            plural = "s" if higher > 1 else ""
            plan.waiting[job.id] = Reason(reason.code, f"{reason.message}; {higher} higher-priority job{plural} ahead",
                                          reason.field)
        if job.id not in placed:
            ahead[job.priority] = ahead.get(job.priority, 0) + 1


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
