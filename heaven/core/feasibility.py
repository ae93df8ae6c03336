"""Feasibility: the one list of checks every placing stage runs.

Placement, gangs, stealing, preemption, backfilling and give-back all ask the
same question — may this job go on this node now? — through ``feasible``,
which runs ``CHECKERS`` in order, cheap ones first, and returns the first
reason against, or None:

    at_home (pin, organization, cluster) → within_quota → node_ready
      → enough_cores → enough_memory → enough_storage → enough_gpus

A stage that would first free something on the node (an eviction, a shrink)
says so with a ``Probe``: ``freed`` is what the node gains before the job
lands, ``quota_freed`` what its cluster's quota gains (an eviction frees both;
a steal's shrinks are not credited to the quota, which keeps the ledger on the
safe side). ``parts`` is how many parts of a gang land in that cluster.
A copy of a check elsewhere is how the gang quota bypass happened: there is none.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from heaven.core import reasons
from heaven.core.model import Job, Node, in_home, in_org, may_run_on
from heaven.core.quotas import QuotaLedger
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of every resource a node or a quota counts."""

    cores: int = 0
    memory_mb: int = 0
    storage_mb: int = 0
    gpus: int = 0


NOTHING = Resources()


@dataclass(frozen=True, slots=True)
class Probe:
    """The question's context: the cycle's quota ledger and what the stage frees first."""

    ledger: QuotaLedger | None = None
    freed: Resources = NOTHING
    quota_freed: Resources = NOTHING
    parts: int = 1


DIRECT = Probe()  # nothing freed, no quotas: the question the simplest callers ask

Checker = Callable[[Job, NodeCapacity, Probe], Reason | None]


def at_home(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    """The job's pin, its organization and its cluster allow this node."""
    node = cap.node
    if may_run_on(job, node):  # the rule itself (model.py); what follows only words the refusal
        return None
    if job.node is not None and node.name != job.node:
        return Reason(reasons.PINNED_ELSEWHERE, f"job {job.id} is pinned to node {job.node}", "node")
    if not in_org(job, node):  # another organization's node is as unknown as a missing one
        return Reason(reasons.UNKNOWN_NODE, f"node {node.name} is not registered", "node")
    return Reason(reasons.WRONG_CLUSTER, f"node {node.name} is in cluster {node.cluster}, not {job.cluster}", "node")


def within_quota(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    if probe.ledger is None or not probe.ledger.quotas:
        return None
    q = probe.quota_freed
    return probe.ledger.check(job, cap, credit=(q.cores, q.memory_mb, q.gpus), parts=probe.parts)


def node_ready(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    if cap.ready:
        return None
    return Reason(reasons.NODE_NOT_READY, f"node {cap.node.name} is {cap.node.state}", "node")


def enough_cores(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    have = cap.free_cores + probe.freed.cores
    if have >= job.cores:
        return None
    return reasons.insufficient("cores", cap.node.name, have, job.cores)


def enough_memory(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    have = cap.memory_mb + probe.freed.memory_mb
    if have >= job.memory_mb:
        return None
    return reasons.insufficient("memory_mb", cap.node.name, have, job.memory_mb)


def enough_storage(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    have = cap.storage_mb + probe.freed.storage_mb
    if have >= job.storage_mb:
        return None
    return reasons.insufficient("storage_mb", cap.node.name, have, job.storage_mb)


def enough_gpus(job: Job, cap: NodeCapacity, probe: Probe = DIRECT) -> Reason | None:
    have = len(cap.gpu_ids) + probe.freed.gpus
    if have >= job.gpus:
        return None
    return reasons.insufficient("gpus", cap.node.name, have, job.gpus)


CHECKERS: tuple[Checker, ...] = (at_home, within_quota, node_ready, enough_cores, enough_memory, enough_storage,
                                 enough_gpus)


_AWAY_FROM_HOME = CHECKERS[1:]


def feasible(job: Job, cap: NodeCapacity, probe: Probe = DIRECT, home_known: bool = False) -> Reason | None:
    """The first reason ``job`` cannot go on ``cap``'s node now, or None: the one feasibility question.

    ``home_known``: the caller walking many nodes already skipped those outside the job's home with
    ``may_run_on`` (``at_home``'s own rule, as a boolean), so the list starts after it."""
    for check in _AWAY_FROM_HOME if home_known else CHECKERS:
        reason = check(job, cap, probe)
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
