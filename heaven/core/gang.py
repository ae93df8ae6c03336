"""Gangs: a job that needs ``cores`` on each of ``nodes`` distinct nodes, all at once.

Placed whole or not at all, in the placement rule's node order. Gangs are kept
out of core stealing and preemption (as donors, borrowers and victims alike):
taking part of a gang back would stall every other part of it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from heaven.core.feasibility import first_reason
from heaven.core.model import Job
from heaven.core.quotas import OVER_QUOTA
from heaven.core.reasons import Reason

if TYPE_CHECKING:
    from heaven.core.scheduler import Cycle

NOT_ENOUGH_NODES = "not_enough_nodes"


def place(cycle: Cycle, job: Job) -> Reason | None:
    """Place every part of ``job`` now, or return why not (and change nothing)."""
    chosen = []
    for name in cycle.index.candidates(job.cores, cycle.config.placement):
        cap = cycle.caps[name]
        if job.cluster is not None and cap.node.cluster != job.cluster:
            continue
        if first_reason(job, cap) is None:
            chosen.append(cap)
            if len(chosen) == job.nodes:
                break
    if len(chosen) < job.nodes:
        return Reason(NOT_ENOUGH_NODES, f"gang of {job.nodes} nodes with {job.cores} cores each: "
                                        f"only {len(chosen)} can hold a part now", "nodes")
    per_cluster: dict[str, int] = {}
    for cap in chosen:
        per_cluster[cap.node.cluster] = per_cluster.get(cap.node.cluster, 0) + job.cores
    for cluster, cores in per_cluster.items():
        left = cycle.ledger.cores_left(cluster)
        if left is not None and cores > left:
            return Reason(OVER_QUOTA, f"cluster {cluster} quota: the gang needs {cores} cores there, {left} are left",
                          "cores")
    for cap in chosen:
        cycle.place(job, cap)
    cycle.plan.counts.scheduled -= job.nodes - 1  # one job, however many parts
    return None
