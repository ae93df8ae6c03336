"""Feasibility checkers: one question each, cheap ones first.

A checker takes a job and a node's free capacity and returns a Reason when the
job cannot go there now, or None. ``CHECKERS`` is the order they run in.
"""
from __future__ import annotations

from collections.abc import Callable

from heaven.core import reasons
from heaven.core.model import Job, Node, in_home, in_org
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity

Checker = Callable[[Job, NodeCapacity], Reason | None]


def node_ready(job: Job, cap: NodeCapacity) -> Reason | None:
    if cap.ready:
        return None
    return Reason(reasons.NODE_NOT_READY, f"node {cap.node.name} is {cap.node.state}", "node")


def enough_cores(job: Job, cap: NodeCapacity) -> Reason | None:
    if cap.free_cores >= job.cores:
        return None
    return reasons.insufficient("cores", cap.node.name, cap.free_cores, job.cores)


def enough_memory(job: Job, cap: NodeCapacity) -> Reason | None:
    if cap.memory_mb >= job.memory_mb:
        return None
    return reasons.insufficient("memory_mb", cap.node.name, cap.memory_mb, job.memory_mb)


def enough_storage(job: Job, cap: NodeCapacity) -> Reason | None:
    if cap.storage_mb >= job.storage_mb:
        return None
    return reasons.insufficient("storage_mb", cap.node.name, cap.storage_mb, job.storage_mb)


def enough_gpus(job: Job, cap: NodeCapacity) -> Reason | None:
    if len(cap.gpu_ids) >= job.gpus:
        return None
    return reasons.insufficient("gpus", cap.node.name, len(cap.gpu_ids), job.gpus)


CHECKERS: tuple[Checker, ...] = (node_ready, enough_cores, enough_memory, enough_storage, enough_gpus)


def first_reason(job: Job, cap: NodeCapacity) -> Reason | None:
    for check in CHECKERS:
        reason = check(job, cap)
        if reason is not None:
            return reason
    return None


def _ceilings(node: Node) -> dict[str, int]:
    return {
        "cores": node.schedulable_cores,
        "memory_mb": node.memory_mb,
        "storage_mb": node.storage_mb,
        "gpus": node.gpus,
    }


def never_fits(job: Job, nodes: tuple[Node, ...] | list[Node]) -> Reason | None:
    """Admission: a request that no known node could ever hold, whatever frees up.

    With no nodes registered at all the job is accepted and waits, as a
    Kubernetes pod does; with nodes, it must fit the largest one.
    """
    if job.node is not None:
        candidates = [n for n in nodes if n.name == job.node and in_org(job, n)]
        if not candidates:
            return Reason(reasons.UNKNOWN_NODE, f"node {job.node} is not registered", "node")
        if job.cluster is not None and candidates[0].cluster != job.cluster:
            return Reason(reasons.WRONG_CLUSTER, f"node {job.node} is in cluster {candidates[0].cluster}, not {job.cluster}",
                          "node")
    else:
        candidates = [n for n in nodes if in_home(job, n)]
    if not candidates:
        return None
    asked = {"cores": job.cores, "memory_mb": job.memory_mb, "storage_mb": job.storage_mb, "gpus": job.gpus}
    if job.nodes > 1:
        able = [n for n in candidates if all(_ceilings(n)[r] >= a for r, a in asked.items())]
        if len(able) < job.nodes:
            return Reason(reasons.NEVER_FITS, f"nodes={job.nodes} can never be satisfied: only {len(able)} nodes "
                                              f"could each hold {job.cores} cores", "nodes")
    for resource, amount in asked.items():
        best = max(candidates, key=lambda n: _ceilings(n)[resource])
        largest = _ceilings(best)[resource]
        if amount > largest:
            return reasons.never_fits(resource, amount, largest, best.name)
    return None
