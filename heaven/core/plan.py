"""A plan: the only output of a scheduling cycle.

The controller hands it to the store's single write port (``apply_plan``); the
simulator applies it to its virtual cluster. Neither re-decides anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.core.reasons import Reason


@dataclass(frozen=True, slots=True)
class Place:
    job_id: int
    node: str
    cores: tuple[int, ...]  # global indices
    memory_mb: int = 0
    storage_mb: int = 0
    gpu_ids: tuple[int, ...] = ()


@dataclass(slots=True)
class Counts:
    scheduled: int = 0
    preempted: int = 0
    shrunk: int = 0
    grown: int = 0
    unschedulable: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class Plan:
    placements: list[Place] = field(default_factory=list)
    # Why each job that stays pending is waiting, and its queue position (1-based).
    waiting: dict[int, Reason] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)

    @property
    def empty(self) -> bool:
        return not self.placements
