"""Choosing a node and concrete cores for a job.

Nodes are kept in buckets by free-core count, so best-fit (fewest free cores
that still fit: packs nodes, keeps big holes for big jobs) and least-loaded
(most free cores: spreads) each cost at most one pass over the bucket sizes.
"""
from __future__ import annotations

from heaven.core.feasibility import first_reason
from heaven.core.model import Job, in_home, in_org
from heaven.core.reasons import WRONG_CLUSTER, Reason
from heaven.core.snapshot import NodeCapacity

BEST_FIT = "best-fit"
LEAST_LOADED = "least-loaded"


class FreeIndex:
    """Ready nodes bucketed by their number of free cores."""

    def __init__(self, caps: dict[str, NodeCapacity]) -> None:
        self.caps = caps
        size = max((c.node.total_cores for c in caps.values()), default=0)
        self.buckets: list[dict[str, None]] = [{} for _ in range(size + 1)]
        for name, cap in caps.items():
            if cap.ready:
                self.buckets[cap.free_cores][name] = None
        # The highest non-empty bucket: kept as nodes move, so "the most free cores anywhere"
        # costs nothing (it moves down by whole buckets, up only when cores are released).
        self.top = max((c for c, bucket in enumerate(self.buckets) if bucket), default=0)

    @property
    def most_free(self) -> tuple[int, str | None]:
        bucket = self.buckets[self.top] if self.buckets else {}
        return self.top, next(iter(bucket), None)

    def moved(self, name: str, before: int) -> None:
        del self.buckets[before][name]
        now = self.caps[name].free_cores
        self.buckets[now][name] = None
        if now > self.top:
            self.top = now
        while self.top > 0 and not self.buckets[self.top]:
            self.top -= 1

    def candidates(self, need: int, rule: str):
        counts = range(need, len(self.buckets))
        if rule == LEAST_LOADED:
            counts = reversed(counts)
        for count in counts:
            # Copy: the caller may move the node we yield to another bucket.
            yield from list(self.buckets[count])


def choose_cores(free: set[int], n: int) -> list[int]:
    """Keep a job's cores together: the smallest run of adjacent free positions
    that holds ``n``, else the lowest ``n`` free positions."""
    ordered = sorted(free)
    best: tuple[int, int] | None = None  # (run length, start index in ordered)
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            length = i - start
            if length >= n and (best is None or length < best[0]):
                best = (length, start)
                if length == n:
                    break
            start = i
    if best is None:
        return ordered[:n]
    return ordered[best[1]:best[1] + n]


def find_node(job: Job, index: FreeIndex, rule: str, admit=None) -> tuple[NodeCapacity | None, Reason | None]:
    """The node a job goes to now, or the reason it can go nowhere.

    ``admit`` is an extra checker beyond the node's own capacity (cluster quotas)."""
    if job.node is not None:
        cap = index.caps.get(job.node)
        if cap is None or not in_org(job, cap.node):  # another organization's node is as unknown as a missing one
            return None, Reason("unknown_node", f"node {job.node} is not registered", "node")
        if job.cluster is not None and cap.node.cluster != job.cluster:
            return None, Reason(WRONG_CLUSTER, f"node {job.node} is in cluster {cap.node.cluster}, not {job.cluster}", "node")
        reason = (admit and admit(job, cap)) or first_reason(job, cap)
        return (cap, None) if reason is None else (None, reason)
    first: Reason | None = None
    for name in index.candidates(job.cores, rule):
        cap = index.caps[name]
        if not in_home(job, cap.node):
            continue
        reason = (admit and admit(job, cap)) or first_reason(job, cap)
        if reason is None:
            return cap, None
        first = first or reason
    if first is not None:
        return None, first
    count, name = index.most_free
    if name is None:
        return None, Reason("no_nodes", "no node is up", "cores")
    if count == 0:
        return None, Reason("insufficient_cpu", f"Insufficient CPU: needs {job.cores} cores, no node has a free core", "cores")
    # The alphabetically first node with the largest block: the reason stays the same from one
    # cycle to the next while nothing changes (a changed reason is written as an event).
    name = min(index.buckets[count])
    over_quota = admit and admit(job, index.caps[name])
    if over_quota:
        return None, over_quota  # more room would not help: the quota is the limit
    return None, Reason(
        "insufficient_cpu",
        f"Insufficient CPU: needs {job.cores} cores, the largest free block is {count} on {name}",
        "cores",
    )
