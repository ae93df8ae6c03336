"""Reach: per node, how many more cores a post-filter action could find there.

Stealing can add a node's spare cores (what measured donors leave idle),
preemption the cores of jobs below a priority. Walking every node and sorting
its jobs for every attempt made one cycle at 10,000 nodes take a minute. A
``Reach`` keeps, for one action and one cycle, every node in a grid of buckets
by (free cores, amount the action could add), so an attempt for ``need``
cores visits only the buckets where free + amount covers it and never a node
that cannot serve it:

- ``amount`` is counted once per node (``recount``) and again only for a node
  whose jobs the plan touched (``touched``: a donor shrunk, a victim evicted);
- a node moves between free-core rows as the cycle places jobs (the free-core
  index tells every watcher, ``moved``);
- a row keeps only the amounts present, so an empty row is skipped with one
  truth test and a full one costs a sort of at most ``cores per node`` keys.

Order (the ranking of these actions): the most free cores first, so the fewest
cores are taken; within a row, the caller's choice: preemption takes the
smallest amount that covers the request (``tightest``: big reaches stay for
big requests), stealing the largest (the most idle node first, as donors are
taken most spare first within a node). Measured at 1,000 nodes × 10,000 jobs
(bench/bench_core.py's controller scenario): 6,732 placed and 170 evicted,
against 6,585 and 186 for the walk of every node this replaced.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from heaven.core.ranking import FreeIndex


class Reach:
    def __init__(self, index: FreeIndex, recount: Callable[[str], int], names: Iterable[str]) -> None:
        self.index = index
        self.recount = recount
        # Row f: amount -> nodes with f free cores and that amount; only amounts present are keys, so a
        # node of 431 cores (a simulated machine) costs no 431 × 431 grid per cycle.
        self.grid: list[dict[int, dict[str, None]]] = [{} for _ in index.buckets]
        self.where: dict[str, tuple[int, int]] = {}  # node -> (free, amount): its bucket
        caps = index.caps
        for name in names:
            if caps[name].ready:
                self._put(name, caps[name].free_cores, recount(name))
        index.watchers.append(self.moved)

    def _put(self, name: str, free: int, amount: int) -> None:
        old = self.where.get(name)
        if old is not None:
            row = self.grid[old[0]]
            cell = row[old[1]]
            del cell[name]
            if not cell:
                del row[old[1]]
        self.grid[free].setdefault(amount, {})[name] = None
        self.where[name] = (free, amount)

    def moved(self, name: str, free: int) -> None:
        """``name`` now has ``free`` free cores (placed on, or freed by an eviction)."""
        at = self.where.get(name)
        if at is not None and at[0] != free:
            self._put(name, free, at[1])

    def touched(self, name: str) -> None:
        """The plan changed jobs on ``name``: count again what the action could add there."""
        if name in self.where:
            self._put(name, self.index.caps[name].free_cores, self.recount(name))

    def nodes(self, need: int, most_free: int, tightest: bool = True) -> Iterator[str]:
        """Nodes with at most ``most_free`` free cores where free + amount covers ``need``, in the order above
        (``tightest=False``: the largest amount first within a row)."""
        grid = self.grid
        for f in range(min(most_free, len(grid) - 1), -1, -1):
            row = grid[f]
            if not row:
                continue
            amounts = sorted((a for a in row if f + a >= need), reverse=not tightest)
            for a in amounts:
                cell = row.get(a)
                if cell:
                    yield from list(cell)  # a copy: the caller may move the node it is given
