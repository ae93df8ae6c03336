"""A plan: the only output of a scheduling cycle.

The controller hands it to the store's single write port (``apply_plan``); the
simulator applies it to its virtual cluster. Neither re-decides anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.core.model import Reservation
from heaven.core.reasons import Reason


@dataclass(frozen=True, slots=True)
class Place:
    job_id: int
    node: str
    cores: tuple[int, ...]  # global indices
    memory_mb: int = 0
    storage_mb: int = 0
    gpu_ids: tuple[int, ...] = ()
    # (global core, donor job id) for the cores of this placement taken from a donor.
    lent: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Preempt:
    """Evict a running job (its cores free at once); the store requeues batch jobs."""

    job_id: int
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Suspend:
    """Freeze a running job's process on its node (its cores free at once); it resumes there later."""

    job_id: int
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    """Thaw a suspended job on the node its process waits on, with these cores (global indices)."""

    job_id: int
    node: str
    cores: tuple[int, ...]
    memory_mb: int = 0
    storage_mb: int = 0
    gpu_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Cancel:
    """End a pending job that can never run (a dependency failed)."""

    job_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Shrink:
    """Take ``cores_removed`` (global indices) away from a running job, live."""

    job_id: int
    node: str
    cores_removed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Grow:
    """Give ``cores_added`` (global indices) back to a running job, live."""

    job_id: int
    node: str
    cores_added: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Counts:
    """The per-cycle counts DESIGN.md names, read off a plan (``Plan.counts``), never kept beside it."""

    scheduled: int = 0
    preempted: int = 0
    shrunk: int = 0
    grown: int = 0
    unschedulable: int = 0
    suspended: int = 0
    resumed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class Plan:
    placements: list[Place] = field(default_factory=list)
    # Why each job that stays pending is waiting, and its queue position (1-based).
    waiting: dict[int, Reason] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    # Jobs that tried to start in this cycle and could not (the one count a plan cannot show by itself).
    unschedulable: int = 0
    # Live core changes; a placement may use cores a shrink in this plan frees,
    # so a plan is applied shrinks first, then placements, then grows.
    shrinks: list[Shrink] = field(default_factory=list)
    grows: list[Grow] = field(default_factory=list)
    # The head the next cycle must keep protecting (goes into Snapshot.reservation).
    reservation: Reservation | None = None
    # Applied first of all: evictions free cores that placements in this plan use.
    preemptions: list[Preempt] = field(default_factory=list)
    # Applied with the evictions (HEAVEN_GIVEBACK=suspend): they free cores too.
    suspensions: list[Suspend] = field(default_factory=list)
    # Applied after the shrinks, before the placements: a suspended job was admitted first.
    resumes: list[Resume] = field(default_factory=list)
    cancellations: list[Cancel] = field(default_factory=list)
    # The fencing token: the epoch of the leader that made the plan. The store refuses a
    # plan whose epoch is no longer the current one (a deposed leader's); None: unfenced
    # (the simulator, or a cycle run outside the scheduler loop).
    fence: int | None = None

    @property
    def counts(self) -> Counts:
        """Derived from the plan, so no stage can forget to count: a gang is scheduled once."""
        return Counts(len({p.job_id for p in self.placements}), len(self.preemptions), len(self.shrinks),
                      len(self.grows), self.unschedulable, len(self.suspensions), len(self.resumes))
