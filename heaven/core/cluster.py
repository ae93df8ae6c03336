"""The one applier of plans: what a cluster holds after a plan, as a pure function.

``ClusterState.apply(plan, now)`` returns the allocations a plan leaves, in
the order the store applies it: evictions and suspensions (and cancellations,
which hold nothing), shrinks, resumes, placements, grows — each may use what
the previous freed.
The simulator replays with it, the core's test harness models the store with
it, and the verifier (verify.py) walks a plan through the same steps one part
at a time, asking before each whether it still holds. The store's
``apply_plan`` runs that verifier, so all four agree on what a plan means.

Bookkeeping, as the store's core-claims table keeps it:
- a shrink drops the cores and their ``lent`` pairs and stamps ``resized_at``;
- a suspension drops the job's allocation as an eviction does;
- a placement, or a resume, starts now, its cores sorted, its ``lent`` pairs as planned;
- a grow adds cores and stamps ``resized_at``.
Measured use (``used_cores``, ``recent_cores``) is the caller's to refresh.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from heaven.core.model import Allocation, Node
from heaven.core.plan import Grow, Place, Plan, Preempt, Resume, Shrink, Suspend
from heaven.core.snapshot import NodeCapacity, Snapshot, capacities


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Nodes and the allocations held on them, by job (a gang holds one part per node)."""

    nodes: Mapping[str, Node]
    parts: Mapping[int, tuple[Allocation, ...]]

    @classmethod
    def of(cls, nodes: Iterable[Node], allocations: Iterable[Allocation]) -> ClusterState:
        parts: dict[int, tuple[Allocation, ...]] = {}
        for alloc in allocations:
            parts[alloc.job_id] = parts.get(alloc.job_id, ()) + (alloc,)
        return cls({n.name: n for n in nodes}, parts)

    @classmethod
    def of_snapshot(cls, snapshot: Snapshot) -> ClusterState:
        return cls.of(snapshot.nodes, snapshot.allocations)

    def allocations(self) -> tuple[Allocation, ...]:
        return tuple(a for parts in self.parts.values() for a in parts)

    def apply(self, plan: Plan, now: float) -> ClusterState:
        """The state once every part of ``plan`` is carried out (this one is left as it was)."""
        draft = Draft(self)
        for p in plan.preemptions:
            draft.evict(p)
        for p in plan.suspensions:
            draft.evict(p)
        for s in plan.shrinks:
            draft.shrink(s, now)
        for r in plan.resumes:
            draft.resume(r, now)
        for places in by_job(plan.placements).values():
            draft.place(places, now)
        for g in plan.grows:
            draft.grow(g, now)
        return draft.state()


def by_job(placements: Iterable[Place]) -> dict[int, list[Place]]:
    """A plan's placements grouped by job, in plan order: a gang's parts are one placement."""
    out: dict[int, list[Place]] = {}
    for p in placements:
        out.setdefault(p.job_id, []).append(p)
    return out


class Draft:
    """A state being changed one part of a plan at a time (``apply`` and the verifier).

    With ``track``, it also keeps each node's free capacity and each quota key's
    use (cores, memory, GPUs) so the verifier can ask whether the next part
    still fits; ``apply`` does not pay for that."""

    def __init__(self, state: ClusterState, track: Snapshot | None = None) -> None:
        self.nodes = state.nodes
        self.parts: dict[int, tuple[Allocation, ...]] = dict(state.parts)
        self.caps: dict[str, NodeCapacity] | None = None
        self.used: dict[str, list[int]] = {}
        if track is not None:
            self.caps = capacities(track)
            for alloc in track.allocations:
                node = self.nodes.get(alloc.node)
                if node is not None:
                    self._charge(node, len(alloc.cores), alloc.memory_mb, len(alloc.gpu_ids))

    def state(self) -> ClusterState:
        return ClusterState(self.nodes, self.parts)

    def part(self, job_id: int, node: str) -> Allocation | None:
        return next((a for a in self.parts.get(job_id, ()) if a.node == node), None)

    # -- the changes -------------------------------------------------------------------------
    def evict(self, p: Preempt | Suspend) -> None:
        for alloc in self.parts.pop(p.job_id, ()):
            self._free(alloc.node, alloc.cores, alloc.memory_mb, alloc.storage_mb, alloc.gpu_ids)

    def shrink(self, s: Shrink, now: float) -> None:
        alloc = self.part(s.job_id, s.node)
        gone = set(s.cores_removed)
        self._replace(alloc, replace(alloc, cores=tuple(c for c in alloc.cores if c not in gone),
                                     lent=tuple((c, d) for c, d in alloc.lent if c not in gone), resized_at=now))
        self._free(s.node, s.cores_removed)

    def place(self, places: list[Place], now: float) -> None:
        job_id = places[0].job_id
        self.parts[job_id] = tuple(Allocation(job_id, p.node, tuple(sorted(p.cores)), p.memory_mb, p.storage_mb,
                                              p.gpu_ids, started_at=now, lent=tuple(p.lent)) for p in places)
        for p in places:
            self._take(p.node, p.cores, p.memory_mb, p.storage_mb, p.gpu_ids)

    def resume(self, r: Resume, now: float) -> None:
        self.place([Place(r.job_id, r.node, r.cores, r.memory_mb, r.storage_mb, r.gpu_ids)], now)

    def grow(self, g: Grow, now: float) -> None:
        alloc = self.part(g.job_id, g.node)
        self._replace(alloc, replace(alloc, cores=tuple(sorted(alloc.cores + tuple(g.cores_added))), resized_at=now))
        self._take(g.node, g.cores_added)

    # -- bookkeeping ------------------------------------------------------------------------------
    def _replace(self, old: Allocation, new: Allocation) -> None:
        self.parts[old.job_id] = tuple(new if a is old else a for a in self.parts[old.job_id])

    def _charge(self, node: Node, cores: int, memory_mb: int, gpus: int) -> None:
        used = self.used.setdefault(node.quota_key, [0, 0, 0])
        used[0] += cores
        used[1] += memory_mb
        used[2] += gpus

    def _free(self, name: str, cores, memory_mb: int = 0, storage_mb: int = 0, gpu_ids=()) -> None:
        if self.caps is None or name not in self.caps:
            return
        cap = self.caps[name]
        cap.free.update(c - cap.node.core_offset for c in cores)
        cap.memory_mb += memory_mb
        cap.storage_mb += storage_mb
        cap.gpu_ids.extend(gpu_ids)
        self._charge(cap.node, -len(cores), -memory_mb, -len(gpu_ids))

    def _take(self, name: str, cores, memory_mb: int = 0, storage_mb: int = 0, gpu_ids=()) -> None:
        if self.caps is None or name not in self.caps:
            return
        cap = self.caps[name]
        cap.free.difference_update(c - cap.node.core_offset for c in cores)
        cap.memory_mb -= memory_mb
        cap.storage_mb -= storage_mb
        cap.gpu_ids = [g for g in cap.gpu_ids if g not in gpu_ids]
        self._charge(cap.node, len(cores), memory_mb, len(gpu_ids))
