"""Ranking: the order in which a placing stage looks at nodes.

Feasibility (feasibility.py) says whether a job may go on a node; ranking says
which of the feasible nodes it prefers. Nodes are kept in buckets by free-core
count, so both rules cost at most one pass over the bucket sizes instead of a
sort of every node:

- ``best-fit``: fewest free cores that still fit: packs nodes, keeps big holes
  for big jobs (the default);
- ``least-loaded``: most free cores: spreads the load.

``choose_cores`` ranks the cores within the chosen node.
"""
from __future__ import annotations

from collections.abc import Iterator

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
        # Told (name, free cores now) whenever a node moves: the reach indexes of reach.py keep up this way.
        self.watchers: list = []

    @property
    def most_free(self) -> tuple[int, str | None]:
        bucket = self.buckets[self.top] if self.buckets else {}
        return self.top, next(iter(bucket), None)

    def moved(self, name: str, before: int) -> None:
        """Node ``name`` had ``before`` free cores and now has what its capacity says."""
        del self.buckets[before][name]
        now = self.caps[name].free_cores
        self.buckets[now][name] = None
        if now > self.top:
            self.top = now
        while self.top > 0 and not self.buckets[self.top]:
            self.top -= 1
        for watch in self.watchers:
            watch(name, now)

    def candidates(self, need: int, rule: str) -> Iterator[str]:
        """Names of ready nodes with at least ``need`` free cores, in the rule's order.

        A node of 256 cores has 257 buckets, almost all empty; the simulator asks
        for candidates hundreds of thousands of times per replay, so an empty
        bucket costs a truth test and no list.

        Buckets are walked as they are, not copied (a bucket of an idle cluster
        holds every node, and most walks stop at its first name): a caller
        chooses while it walks and takes after, so no node moves under the walk
        (one that did would stop it with Python's "dictionary changed size")."""
        buckets = self.buckets
        counts = range(need, len(buckets))
        if rule == LEAST_LOADED:
            counts = reversed(counts)
        for count in counts:
            if buckets[count]:
                yield from buckets[count]

    def largest_free(self, excluding: str | None = None) -> int:
        """The most free cores on any ready node (but ``excluding``): a job larger fits nowhere."""
        buckets, top = self.buckets, self.top
        if excluding is None:
            return top
        for count in range(top, 0, -1):
            if any(name != excluding for name in buckets[count]):
                return count
        return 0


def choose_cores(free: set[int], n: int) -> list[int]:
    """Keep a job's cores together: the smallest run of adjacent free positions
    that holds ``n``, else the lowest ``n`` free positions."""
    ordered = sorted(free)
    if not ordered or ordered[-1] - ordered[0] == len(ordered) - 1:
        return ordered[:n]  # one run (an idle node, or one filled from its low end): the common case
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
