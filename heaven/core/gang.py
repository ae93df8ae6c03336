"""Gangs: a job that needs ``cores`` on each of ``nodes`` distinct nodes, all at once.

Placed whole or not at all, in the placement rule's node order. Every part asks
the job's full request, and the parts that land in one cluster are held to its
quota together (``QuotaLedger.check`` with ``parts``): a node whose cluster
cannot take one more part is passed over, so a gang may spread to another
cluster. Gangs are kept out of core stealing and preemption (as donors,
borrowers and victims alike): taking part of a gang back would stall every
other part of it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from heaven.core.feasibility import Probe, feasible
from heaven.core.model import Job, may_run_on
from heaven.core.quotas import OVER_QUOTA
from heaven.core.reasons import Reason

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle

NOT_ENOUGH_NODES = "not_enough_nodes"


def place(cycle: Cycle, job: Job) -> Reason | None:
    """Place every part of ``job`` now, or return why not (and change nothing)."""
    chosen = []
    in_cluster: dict[str, int] = {}  # parts chosen so far per cluster
    over_quota: Reason | None = None
    for name in cycle.index.candidates(job.cores, cycle.config.placement):
        cap = cycle.caps[name]
        cluster = cap.node.quota_key
        if not may_run_on(job, cap.node):
            continue
        # Nothing is charged until every part is found, so this part is checked together with the
        # parts already chosen in its cluster.
        reason = feasible(job, cap, Probe(cycle.ledger, parts=in_cluster.get(cluster, 0) + 1), home_known=True)
        if reason is not None:
            if reason.code == OVER_QUOTA:
                over_quota = over_quota or reason
            continue
        chosen.append(cap)
        in_cluster[cluster] = in_cluster.get(cluster, 0) + 1
        if len(chosen) == job.nodes:
            break
    if len(chosen) < job.nodes:
        if over_quota is not None:  # a node with room was refused by its quota: more room would not help
            return over_quota
        return Reason(NOT_ENOUGH_NODES, f"gang of {job.nodes} nodes with {job.cores} cores each: "
                                        f"only {len(chosen)} can hold a part now", "nodes")
    for cap in chosen:
        cycle.place(job, cap)
    return None
