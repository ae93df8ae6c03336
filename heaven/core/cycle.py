"""The mutable state of one cycle: what is still free as the plan grows.

Every stage (placement, gangs, stealing, preemption, backfill, give-back)
reads and changes it through these methods, so "a core was taken" always moves
the node in the free-core index, charges the quota ledger and lands in the
plan together. It lives in its own module so the stages import it and the
pipeline (scheduler.py) imports the stages, never the other way round.
"""
from __future__ import annotations

from heaven.core import reasons
from heaven.core.config import SchedulerConfig
from heaven.core.feasibility import Probe, feasible
from heaven.core.model import Allocation, Job, may_run_on
from heaven.core.placement import find_node
from heaven.core.plan import Place, Plan, Resume
from heaven.core.quotas import QuotaLedger
from heaven.core.ranking import FreeIndex, choose_cores
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity, Snapshot, capacities


class Cycle:
    """Created fresh by every ``schedule`` call and shared by its stages."""

    __slots__ = ("snapshot", "now", "config", "plan", "caps", "index", "_jobs", "_on_node", "touched", "ledger",
                 "probe", "watchers")

    def __init__(self, snapshot: Snapshot, now: float, config: SchedulerConfig) -> None:
        self.snapshot = snapshot
        self.now = now
        self.config = config
        self.plan = Plan()
        self.caps = capacities(snapshot)
        self.index = FreeIndex(self.caps)
        self._jobs: dict[int, Job] | None = None
        self._on_node: dict[str, list[Allocation]] | None = None
        self.touched: set[int] = set()  # running jobs already shrunk, grown or evicted in this plan
        self.ledger = QuotaLedger(snapshot)
        self.probe = Probe(self.ledger)  # the plain feasibility question: nothing freed first
        self.watchers: list = []  # told the node's name whenever the plan changes a running job there

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

    def touch(self, node: str) -> None:
        """The plan changed running jobs on ``node`` (shrunk or evicted): what actions index there is stale."""
        for watch in self.watchers:
            watch(node)

    def largest_free(self, excluding: str | None = None) -> int:
        return self.index.largest_free(excluding)

    def fit(self, job: Job, avoid: str | None = None) -> tuple[NodeCapacity | None, Reason | None]:
        """The node ``job`` goes to now (never ``avoid``), or why it can go nowhere.

        Without ``explain`` a job larger than every free block is turned away
        before any node is looked at, with no reason built.
        """
        if not self.config.explain and job.cores > self.index.top:
            return None, None
        cap, reason = find_node(job, self.index, self.config.placement, self.probe)
        if cap is None or avoid is None or cap.node.name != avoid:
            return cap, reason
        if job.node is None:
            for name in self.index.candidates(job.cores, self.config.placement):
                other = self.caps[name]
                if name == avoid or not may_run_on(job, other.node):
                    continue
                if feasible(job, other, self.probe, home_known=True) is None:
                    return other, None
        return None, Reason(reasons.BLOCKED_BY_HEAD, f"would delay the job reserved on {avoid}", "cores")

    def wait(self, job: Job, reason: Reason | None) -> None:
        """Record why ``job`` stays pending (only when explaining)."""
        if self.config.explain and reason is not None:
            self.plan.waiting[job.id] = reason

    def take(self, cap: NodeCapacity, positions: list[int], memory_mb: int = 0, storage_mb: int = 0,
             gpus: int = 0) -> tuple[int, ...]:
        """Mark cores (positions) and other resources of ``cap`` as used; returns the GPU ids taken.

        The quota is the caller's to charge: a give-back takes cores a borrower gave up in the same
        cluster, which changes nothing there."""
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
        self.touch(alloc.node)

    def place(self, job: Job, cap: NodeCapacity, positions: list[int] | None = None,
              lent: tuple[tuple[int, int], ...] = ()) -> Place:
        """Grant ``job`` cores on ``cap`` (its own choice of free cores unless given)."""
        cores, gpu_ids = self._grant(job, cap, positions)
        place = Place(job.id, cap.node.name, cores, job.memory_mb, job.storage_mb, gpu_ids, lent)
        self.plan.placements.append(place)
        return place

    def resume(self, job: Job, cap: NodeCapacity) -> Resume:
        """Grant a suspended ``job`` cores again on ``cap``, its own node (suspension.py)."""
        cores, gpu_ids = self._grant(job, cap, None)
        resume = Resume(job.id, cap.node.name, cores, job.memory_mb, job.storage_mb, gpu_ids)
        self.plan.resumes.append(resume)
        return resume

    def _grant(self, job: Job, cap: NodeCapacity, positions: list[int] | None) -> tuple[tuple[int, ...], tuple]:
        if positions is None:
            positions = choose_cores(cap.free, job.cores)
        gpu_ids = self.take(cap, positions, job.memory_mb, job.storage_mb, job.gpus)
        self.ledger.placed(job, cap.node)
        return cap.node.global_indices(positions), gpu_ids
