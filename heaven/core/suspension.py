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
first, then the oldest. Except where a pending job of strictly higher priority
may run on that node and fits it: that one would only suspend it again after the
pass (a thaw and a freeze for nothing), so it stays frozen this cycle and the
pass places the higher job.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from heaven.core.feasibility import feasible
from heaven.core.model import Job, Node, may_run_on

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle


def resume_suspended(cycle: Cycle) -> None:
    """Plan a ``Resume`` for every suspended job whose node can take it again now."""
    waiting = sorted(cycle.snapshot.suspended(), key=lambda j: (-j.priority, j.id))
    if not waiting:
        return
    lowest = waiting[-1].priority
    above = [j for j in cycle.snapshot.pending() if j.priority > lowest]  # the ones that could outrank one
    for job in waiting:
        cap = cycle.caps.get(job.suspended_on or "")
        if cap is None or not cap.ready or _outranked(job, cap.node, above):
            continue
        # Pinned, for the one feasibility list, to where its process is.
        if feasible(replace(job, node=cap.node.name), cap, cycle.probe) is None:
            cycle.resume(job, cap)


def _outranked(job: Job, node: Node, pending: list[Job]) -> bool:
    """A pending job of strictly higher priority may run on ``node`` and fits it when empty."""
    return any(p.priority > job.priority and p.nodes == 1 and p.cores <= node.schedulable_cores
               and may_run_on(p, node) for p in pending)
