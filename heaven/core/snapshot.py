"""The immutable input of a cycle, and the per-node free capacity derived from it."""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.core.model import Allocation, Job, Node, Quota, Reservation, Usage
from heaven.core.states import JobState, NodeState


@dataclass(frozen=True, slots=True)
class Snapshot:
    nodes: tuple[Node, ...] = ()
    jobs: tuple[Job, ...] = ()  # every active job: pending and running
    allocations: tuple[Allocation, ...] = ()
    # What the previous cycle's plan promised the blocked head (``Plan.reservation``).
    reservation: Reservation | None = None
    # Final states of the jobs that pending jobs depend on and that have ended.
    ended: dict[int, JobState] = field(default_factory=dict)
    # Cluster name -> quota.
    quotas: dict[str, Quota] = field(default_factory=dict)
    # (organization, cluster) -> its decayed past usage, for fair share (empty: none recorded).
    usage: dict[tuple[int, str], Usage] = field(default_factory=dict)

    def pending(self) -> list[Job]:
        return [j for j in self.jobs if j.state == JobState.PENDING]

    def suspended(self) -> list[Job]:
        return [j for j in self.jobs if j.state == JobState.SUSPENDED]


@dataclass(slots=True)
class NodeCapacity:
    """What is still free on one node, mutated as a cycle places jobs."""

    node: Node
    free: set[int]  # free positions (index into node.local_cores)
    memory_mb: int
    storage_mb: int
    gpu_ids: list[int] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.node.state == NodeState.UP

    @property
    def free_cores(self) -> int:
        return len(self.free)

    def take(self, positions: list[int], memory_mb: int, storage_mb: int, gpus: int) -> tuple[int, ...]:
        self.free.difference_update(positions)
        self.memory_mb -= memory_mb
        self.storage_mb -= storage_mb
        if not gpus:
            return ()
        taken, self.gpu_ids = tuple(self.gpu_ids[:gpus]), self.gpu_ids[gpus:]
        return taken


def capacities(snapshot: Snapshot) -> dict[str, NodeCapacity]:
    """Free capacity per node: everything minus reserved cores and allocations.

    Allocations on unknown nodes or cores outside a node are ignored here;
    ``verify`` is the place that reports them.
    """
    caps: dict[str, NodeCapacity] = {}
    for node in snapshot.nodes:
        if node.reserved:
            free = {i for i, cpu in enumerate(node.local_cores) if cpu not in node.reserved}
        else:
            free = set(range(len(node.local_cores)))
        caps[node.name] = NodeCapacity(node, free, node.memory_mb, node.storage_mb, list(range(node.gpus)))
    for alloc in snapshot.allocations:
        cap = caps.get(alloc.node)
        if cap is None:
            continue
        offset = cap.node.core_offset
        # Runs once per allocation per cycle (the simulator: per event), so no generator when offset is 0.
        cap.free.difference_update([g - offset for g in alloc.cores] if offset else alloc.cores)
        cap.memory_mb -= alloc.memory_mb
        cap.storage_mb -= alloc.storage_mb
        if alloc.gpu_ids:
            held = set(alloc.gpu_ids)
            cap.gpu_ids = [g for g in cap.gpu_ids if g not in held]
    return caps
