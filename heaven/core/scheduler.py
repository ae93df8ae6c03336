"""The pipeline: one scheduling cycle from a snapshot to a plan.

    snapshot ─▶ order queue ─▶ for each job: feasibility ─▶ rank nodes ─▶ choose cores
                                                   │
                                                   └─▶ reason (why it waits)

Policies:
- ``greedy`` (controller default): every job in queue order takes the best node
  that fits now; a job that does not fit does not hold back smaller ones behind it.
- ``fcfs``: strict first-come-first-served: once a job cannot start, nothing
  behind it starts in this cycle (jobs pinned to another node included).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from heaven.core import queue, reasons
from heaven.core.placement import BEST_FIT, FreeIndex, choose_cores, find_node
from heaven.core.plan import Place, Plan
from heaven.core.reasons import Reason
from heaven.core.snapshot import Snapshot, capacities

POLICIES = ("greedy", "fcfs")


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    policy: str = "greedy"
    order: str = "priority"
    placement: str = BEST_FIT


def schedule(snapshot: Snapshot, now: float, rng: random.Random, config: SchedulerConfig) -> Plan:
    """Return the plan for one cycle. Pure: ``now`` and ``rng`` are the only
    sources of time and chance (rng breaks no ties yet; it is part of the
    contract so the simulator stays deterministic as policies grow)."""
    del now, rng  # used by later stages (walltime, backfill); kept in the signature
    plan = Plan()
    caps = capacities(snapshot)
    index = FreeIndex(caps)
    blocked_by: int | None = None
    for position, job in enumerate(queue.order(snapshot.pending(), config.order), start=1):
        plan.positions[job.id] = position
        if blocked_by is not None:
            plan.waiting[job.id] = Reason(reasons.BLOCKED_BY_HEAD, f"waiting behind job {blocked_by} (strict FIFO)")
            continue
        cap, reason = find_node(job, index, config.placement)
        if cap is None:
            plan.waiting[job.id] = reason
            plan.counts.unschedulable += 1
            if config.policy == "fcfs":
                blocked_by = job.id
            continue
        before = cap.free_cores
        positions = choose_cores(cap.free, job.cores)
        gpu_ids = cap.take(positions, job.memory_mb, job.storage_mb, job.gpus)
        index.moved(cap.node.name, before)
        cores = tuple(cap.node.global_index(p) for p in positions)
        plan.placements.append(Place(job.id, cap.node.name, cores, job.memory_mb, job.storage_mb, gpu_ids))
        plan.counts.scheduled += 1
    return plan
