"""Preemption: a waiting job of strictly higher priority may evict running jobs.

It runs after every job was placed without evicting anyone and after idle
cores were reclaimed (shrink before evict). For one waiting job it picks, on
each node it could use, victims of strictly lower priority in the configured
order, keeps a minimal set (drops any victim the job fits without), and evicts
only where that set actually makes the job fit; the node needing the fewest
victims (then the fewest cores evicted) wins, among the first ``SAMPLE`` nodes
where evictions would make it fit, the most free cores first (every node in a
small cluster; see ``SAMPLE``). Nodes whose free plus evictable cores cannot
cover the request are skipped before any check (reach.py).

Who may be evicted for whom is a ``rule``: preemption's own is ``LOWER_PRIORITY``;
fair share (fairshare.py) brings another (a lender takes back what borrowers hold)
and reuses everything else here: victim order, minimal set, feasibility.

What a victim becomes is the policy's ``giveback`` (config.py): requeued (``Preempt``),
or, under ``suspend``, a running victim is frozen on its node (``Suspend``; suspension.py
resumes it there). One victim search serves both: ``evict_for`` asks which at the end.

Victim orders (lowest priority first in both):
- ``newest-first`` (default): the most recently started first: loses the least work;
- ``oldest-first``: the original deployment scheduler's rule.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from heaven.core.config import NEWEST_FIRST, OLDEST_FIRST, SUSPEND, VICTIM_ORDERS
from heaven.core.feasibility import Probe, Resources, feasible
from heaven.core.model import Allocation, Job, Node, may_run_on
from heaven.core.plan import Preempt, Suspend
from heaven.core.states import JobState
from heaven.core.reach import Reach

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle

__all__ = ["LOWER_PRIORITY", "NEWEST_FIRST", "OLDEST_FIRST", "VICTIM_ORDERS", "Evict", "evict_for", "minimal_set"]


class LowerPriority:
    """Preemption's rule: a victim of strictly lower priority than the waiting job."""

    def may_evict(self, job: Job, victim: Job, node: Node) -> bool:
        return victim.priority < job.priority

    def reason(self, job: Job, victim: Job) -> str:
        return f"evicted for job {job.id} (priority {job.priority} > {victim.priority})"


LOWER_PRIORITY = LowerPriority()


class Evict:
    """The preemption action (actions.py): tried after the pass, for jobs nothing else placed.

    One instance per cycle: it remembers, per request shape, the highest priority
    that found no victims enough, and does not search again for a job of no
    higher priority (it would find the same victims, or fewer)."""

    name = "preempt"
    after_pass = True

    def __init__(self) -> None:
        self.hopeless: dict[tuple, int] = {}
        self.reach: dict[int, Reach] = {}  # per priority asked: cores below it per node (reach.py)

    def attempt(self, cycle: Cycle, job: Job) -> bool:
        shape = shape_of(job)
        if self.hopeless.get(shape, -10**9) >= job.priority:
            return False
        if job.node is not None:
            done = evict_for(cycle, job)
        else:
            reach = self.reach.get(job.priority)
            if reach is None:
                priority = job.priority
                reach = self.reach[priority] = Reach(cycle.index, lambda name: _evictable(cycle, name, priority),
                                                     dict.fromkeys(a.node for a in cycle.snapshot.allocations))
                cycle.watchers.append(reach.touched)
            names = reach.nodes(job.cores, cycle.index.top, tightest=True)
            done = evict_for(cycle, job, (cycle.caps[name] for name in names), SAMPLE)
        if done:
            return True
        self.hopeless[shape] = job.priority
        return False


# How many nodes that can take the job (once their victims go) one eviction compares, the most free cores
# first: the best of the first SAMPLE, not of every node, as kube-scheduler scores a bounded share of the
# feasible nodes. Below that many candidates (every test's cluster) the choice is the exhaustive one.
SAMPLE = 8


def _evictable(cycle: Cycle, node: str, priority: int) -> int:
    """Cores on ``node`` held by jobs preemption may evict for a job of ``priority``."""
    jobs, touched = cycle.jobs, cycle.touched
    total = 0
    for alloc in cycle.allocations_on(node):
        victim = jobs.get(alloc.job_id)
        if victim is not None and victim.priority < priority and victim.nodes == 1 and alloc.job_id not in touched:
            total += len(alloc.cores)
    return total


def shape_of(job: Job) -> tuple:
    """What a request asks, and where: two jobs of one shape are placed (or not) alike."""
    return (job.cores, job.memory_mb, job.storage_mb, job.gpus, job.node, job.cluster, job.org)


def _victims(cycle: Cycle, job: Job, node: Node, rule=LOWER_PRIORITY) -> list[tuple[Allocation, Job]]:
    out = []
    jobs = cycle.jobs
    for alloc in cycle.allocations_on(node.name):
        victim = jobs.get(alloc.job_id)
        if victim is not None and victim.nodes == 1 and alloc.job_id not in cycle.touched \
                and rule.may_evict(job, victim, node):
            out.append((alloc, victim))
    newest = cycle.config.victim_order == NEWEST_FIRST
    out.sort(key=lambda av: (av[1].priority, -av[0].started_at if newest else av[0].started_at, av[0].job_id))
    return out


def _freed(chosen: list[tuple[Allocation, Job]]) -> Resources:
    return Resources(sum(len(a.cores) for a, _ in chosen), sum(a.memory_mb for a, _ in chosen),
                     sum(a.storage_mb for a, _ in chosen), sum(len(a.gpu_ids) for a, _ in chosen))


def _fits(job: Job, cap, chosen: list[tuple[Allocation, Job]], ledger) -> bool:
    """``job`` fits ``cap`` once ``chosen`` are gone: the one feasibility list, with what they free
    credited to the node and to its cluster's quota."""
    freed = _freed(chosen)
    return feasible(job, cap, Probe(ledger, freed=freed, quota_freed=freed)) is None


def minimal_set(job: Job, cap, victims: list[tuple[Allocation, Job]], ledger) -> list[tuple[Allocation, Job]] | None:
    """The shortest prefix of ``victims`` that makes ``job`` fit, minus any victim it fits without."""
    chosen: list[tuple[Allocation, Job]] = []
    for victim in victims:
        if _fits(job, cap, chosen, ledger):
            break
        chosen.append(victim)
    if not _fits(job, cap, chosen, ledger):
        return None
    for victim in list(reversed(chosen)):  # the least preferred victims are spared first
        rest = [v for v in chosen if v is not victim]
        if _fits(job, cap, rest, ledger):
            chosen = rest
    return chosen


def evict_for(cycle: Cycle, job: Job, candidates=None, sample: int | None = None, rule=LOWER_PRIORITY) -> bool:
    """Evict the fewest jobs ``rule`` lets go (lower-priority ones) that make ``job`` fit, and place it.
    False: no change.

    ``candidates``: the nodes to compare (every node unless given); ``sample``: stop after that
    many nodes where evictions would make it fit."""
    best = None
    found = 0
    for cap in cycle.caps.values() if candidates is None else candidates:
        node = cap.node
        if not may_run_on(job, node) or not cap.ready:
            continue
        chosen = minimal_set(job, cap, _victims(cycle, job, node, rule), cycle.ledger)
        if chosen is None:
            continue
        cost = (len(chosen), sum(len(a.cores) for a, _ in chosen), node.name)
        if best is None or cost < best[0]:
            best = (cost, cap, chosen)
        found += 1
        if sample is not None and found >= sample:
            break
    if best is None:
        return False
    _, cap, chosen = best
    suspends = cycle.config.giveback == SUSPEND
    for alloc, victim in chosen:
        cycle.release(alloc)
        if suspends and victim.state == JobState.RUNNING:  # an assigned job has no process to freeze yet
            cycle.plan.suspensions.append(Suspend(victim.id, alloc.node, rule.reason(job, victim)))
        else:
            cycle.plan.preemptions.append(Preempt(victim.id, alloc.node, rule.reason(job, victim)))
    cycle.place(job, cap)
    return True
