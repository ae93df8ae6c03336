"""Direct fit: the node a job goes to now, without taking anything from anyone.

Select, in Nomad's words: walk the nodes in the ranking's order (ranking.py)
and take the first one the feasibility list (feasibility.py) accepts. When none
does, say why in the words an operator can act on: the first refusal of a node
that had room, else the largest free block there is, else that its quota (not
room) is the limit.
"""
from __future__ import annotations

from heaven.core import reasons
from heaven.core.feasibility import DIRECT, Probe, feasible, within_quota
from heaven.core.model import Job, may_run_on
from heaven.core.ranking import BEST_FIT, LEAST_LOADED, FreeIndex, choose_cores
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity

__all__ = ["BEST_FIT", "LEAST_LOADED", "FreeIndex", "choose_cores", "find_node"]


def find_node(job: Job, index: FreeIndex, rule: str,
              probe: Probe = DIRECT) -> tuple[NodeCapacity | None, Reason | None]:
    """The node a job goes to now, or the reason it can go nowhere."""
    if job.node is not None:
        cap = index.caps.get(job.node)
        if cap is None:
            return None, Reason(reasons.UNKNOWN_NODE, f"node {job.node} is not registered", "node")
        reason = feasible(job, cap, probe)
        return (cap, None) if reason is None else (None, reason)
    first: Reason | None = None
    for name in index.candidates(job.cores, rule):
        cap = index.caps[name]
        if not may_run_on(job, cap.node):  # outside its home: skipped before any check, with no reason
            continue
        reason = feasible(job, cap, probe, home_known=True)
        if reason is None:
            return cap, None
        first = first or reason
    if first is not None:
        return None, first
    count, name = index.most_free
    if name is None:
        return None, Reason(reasons.NO_NODES, "no node is up", "cores")
    if count == 0:
        return None, Reason(reasons.INSUFFICIENT_CPU,
                            f"Insufficient CPU: needs {job.cores} cores, no node has a free core", "cores")
    # The alphabetically first node with the largest block: the reason stays the same from one
    # cycle to the next while nothing changes (a changed reason is written as an event).
    name = min(index.buckets[count])
    over_quota = within_quota(job, index.caps[name], probe)
    if over_quota:
        return None, over_quota  # more room would not help: the quota is the limit
    return None, Reason(
        reasons.INSUFFICIENT_CPU,
        f"Insufficient CPU: needs {job.cores} cores, the largest free block is {count} on {name}",
        "cores",
    )
