"""Core dataclasses: nodes, jobs and allocations as the scheduler sees them.

Frozen and slotted: a snapshot is shared by every stage of a cycle and must not
change under it. These are the core's own types; the store and the API convert
to and from them at their borders.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.core.states import JobState, NodeState


@dataclass(frozen=True, slots=True)
class Node:
    """A machine running an agent.

    ``local_cores`` are the kernel's CPU numbers; the core at position ``i`` has
    the global index ``core_offset + i`` in the cluster's core map.
    """

    name: str
    core_offset: int
    local_cores: tuple[int, ...]
    memory_mb: int = 0
    storage_mb: int = 0
    gpus: int = 0
    # Kernel CPU numbers the operator keeps for the system (never granted).
    reserved: frozenset[int] = frozenset()
    state: NodeState = NodeState.UP
    cluster: str = "default"
    # The organization whose node this is: only its jobs run here (None: no organizations, the simulator).
    org: int | None = None

    @property
    def quota_key(self) -> str:
        """Which quota this node counts against: a cluster's name is unique within its organization only."""
        return cluster_key(self.org, self.cluster)

    @property
    def total_cores(self) -> int:
        return len(self.local_cores)

    @property
    def schedulable_cores(self) -> int:
        return sum(1 for c in self.local_cores if c not in self.reserved)

    def global_indices(self, positions: list[int]) -> tuple[int, ...]:
        """The global index of the core at each position (one list, not a call per core: it runs per placement)."""
        offset = self.core_offset
        return tuple([offset + p for p in positions])

    def owns(self, global_core: int) -> bool:
        return self.core_offset <= global_core < self.core_offset + self.total_cores


@dataclass(frozen=True, slots=True)
class Job:
    """What a job asks for. ``id`` orders FIFO within a priority."""

    id: int
    cores: int = 1
    min_cores: int = 1
    memory_mb: int = 0
    storage_mb: int = 0
    gpus: int = 0
    priority: int = 0
    submitted_at: float = 0.0
    node: str | None = None  # pinned to this node when set
    walltime: float | None = None
    state: JobState = JobState.PENDING
    name: str = ""
    cluster: str | None = None
    # (job id, "afterok" | "afterany"): jobs that must end (successfully, for afterok) first.
    depends_on: tuple[tuple[int, str], ...] = ()
    # A gang: ``cores`` (and memory, GPUs) on each of this many distinct nodes, all at once or not at all.
    nodes: int = 1
    org: int | None = None  # the organization it belongs to (None: no organizations, the simulator)
    # A started service holds its request against its cluster's quota while it waits for a
    # node, as the deployment service this product replaces kept its books (store/clusters.booked).
    holds_quota: bool = False
    # Suspended (states.SUSPENDED): the node its frozen process waits on; it can resume only there.
    suspended_on: str | None = None


def cluster_key(org: int | None, cluster: str) -> str:
    """The key of ``Snapshot.quotas`` for a cluster of an organization."""
    return cluster if org is None else f"{org}/{cluster}"


def in_org(job: Job, node: Node) -> bool:
    """Whether ``node`` belongs to ``job``'s organization, or is shared: a node of no organization
    (the simulator's machine, where organizations share a cluster under fair share) takes anyone's."""
    return job.org is None or node.org is None or node.org == job.org


def in_home(job: Job, node: Node) -> bool:
    """Whether ``job`` may run on ``node`` at all, its pin aside: a node of its own
    organization and, when it names one, of its cluster. Every placing stage asks this."""
    return in_org(job, node) and (job.cluster is None or node.cluster == job.cluster)


def may_run_on(job: Job, node: Node) -> bool:
    """``in_home`` and, for a pinned job, the node it is pinned to."""
    return (job.node is None or node.name == job.node) and in_home(job, node)


@dataclass(frozen=True, slots=True)
class Allocation:
    """The exact cores (global indices), memory and GPU ids a job holds now."""

    job_id: int
    node: str
    cores: tuple[int, ...]
    memory_mb: int = 0
    storage_mb: int = 0
    gpu_ids: tuple[int, ...] = ()
    started_at: float = 0.0
    # Measured use, in cores (CPU% / 100 of the whole process tree); None = no samples.
    used_cores: float | None = field(default=None, compare=False)
    # The latest sample alone, in cores: a donor whose use climbs gets its cores back at once.
    recent_cores: float | None = field(default=None, compare=False)
    # When the job was last shrunk or grown live (the cool-down starts there).
    resized_at: float | None = field(default=None, compare=False)
    # (global core, donor job id) for cores this job holds because they were stolen from a donor.
    lent: tuple[tuple[int, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Quota:
    """What all jobs running in one cluster may hold together (None: no limit)."""

    cores: int | None = None
    memory_mb: int | None = None
    gpus: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """An organization's past use of a cluster for fair share: core-seconds, each second
    decayed by its age (fairshare.py), as they stood at time ``at``."""

    core_seconds: float = 0.0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Reservation:
    """The blocked head of the queue that a strict or backfilling policy protects.

    It is the only state a policy carries from one cycle to the next: the plan
    returns it and the caller puts it into the next snapshot, so ``schedule``
    stays a pure function. ``start`` is the promised start time (``None``: no
    time promised, the job is only held at the head); ``node`` is where the
    cores will free up.
    """

    job_id: int
    start: float | None = None
    node: str | None = None
