"""Suspend instead of requeue: the give-back ``suspend`` (HEAVEN_GIVEBACK, config.py).

A victim preemption or lend-back takes cores from (preemption.evict_for, the one
victim search) is, under ``suspend``, frozen on its node instead of requeued: its
process keeps its PID and its work, it holds no cores. Slurm's
``PreemptMode=SUSPEND`` does the same; as there, suspended time does not count
against the walltime.

A suspended job can resume only where its process waits (``Job.suspended_on``)
and with its full request (``Job.cores``). ``resume_suspended`` runs before the
pass over the queue: a suspended job was admitted first, so it gets the cores
freed on its node before any new job may start there; the highest priority
first, then the oldest.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from heaven.core.feasibility import feasible

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle


def resume_suspended(cycle: Cycle) -> None:
    """Plan a ``Resume`` for every suspended job whose node can take it again now."""
    waiting = sorted(cycle.snapshot.suspended(), key=lambda j: (-j.priority, j.id))
    for job in waiting:
        cap = cycle.caps.get(job.suspended_on or "")
        if cap is None or not cap.ready:
            continue
        # Pinned, for the one feasibility list, to where its process is.
        if feasible(replace(job, node=cap.node.name), cap, cycle.probe) is None:
            cycle.resume(job, cap)
