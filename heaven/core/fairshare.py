"""Fair share between organizations: the queue order across them, and lending idle cores.

Order (Slurm's classic fair-share factor). Each organization's past use of a
cluster is core-seconds, every second decayed by its age with a half-life
(Slurm's PriorityDecayHalfLife): one core held for a second ``half_life`` ago
counts ½. Per cluster, with ``usage`` that organization's share of all the
decayed core-seconds there and ``shares`` its weight over the weights of every
organization known there (configured, with past usage, or with jobs):

    F = 2 ** -(usage / shares)

1 for an organization that used nothing, ½ for one that used exactly its
share, towards 0 for one far over it. The queue keeps the configured ordering
within an organization and across equal factors; across organizations the
higher factor goes first. Priority classes still come first wherever the
ordering reads priorities (all but ``fifo``, which ignores them): fair share
orders jobs of one priority, it never lets a low-priority job pass a high one.
A job's cluster for its factor is the one it names, else ``default``.
The usage comes in the snapshot (``Snapshot.usage``: decayed core-seconds as
they stood at some time); the core only decays it on to ``now``.

Lending (Kueue's cohorts). On a shared node (one of no organization) the cores
an organization leaves idle go to whoever waits: its entitlement is the
cluster's shared cores × its weight over the weights of the organizations that
have jobs there now, and an organization may hold more (it borrows). When a job
of an organization holding less than its entitlement cannot start (the job
included, it stays within it), ``LendBack`` evicts jobs of organizations
holding more than theirs, whatever their priority: a lender gets its share back
within the cycle its job waits in. It is preemption's eviction (preemption.py:
victim order, minimal set, the one feasibility list) with a rule of its own,
tried after preemption; stealing (reclaim.py), when on, has already taken the
borrowers' idle cores inline. An evicted borrower is requeued (the store) or
goes back to the queue (the simulator).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from heaven.core.config import DEFAULT_CLUSTER, FairShare, SchedulerConfig
from heaven.core.model import Job, Node
from heaven.core.preemption import SAMPLE, evict_for, shape_of
from heaven.core.snapshot import Snapshot
from heaven.core.states import NodeState

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle

_LN2 = math.log(2.0)


# --- the decay (the store and the simulator compute usage with these too) -----------


def decay(value: float, since: float, now: float, half_life: float) -> float:
    """``value`` as it stood at ``since``, decayed to ``now``."""
    return value * 2.0 ** (-max(0.0, now - since) / half_life)


def core_seconds(cores: float, start: float, end: float, now: float, half_life: float) -> float:
    """``cores`` held from ``start`` to ``end``, each second decayed by its age at ``now``:
    the integral of cores × 2^-((now − t) / half_life) dt over [start, end]."""
    end = min(end, now)
    if end <= start:
        return 0.0
    return cores * half_life / _LN2 * (2.0 ** (-(now - end) / half_life) - 2.0 ** (-(now - start) / half_life))


# --- the order ------------------------------------------------------------------------


def home(job: Job) -> str:
    """The cluster whose usage and weight rank ``job``."""
    return job.cluster if job.cluster is not None else DEFAULT_CLUSTER


def factors(snapshot: Snapshot, now: float, settings: FairShare) -> dict[tuple[int, str], float]:
    """The fair-share factor of every (organization, cluster) the snapshot knows."""
    usage: dict[str, dict[int, float]] = {}  # cluster -> organization -> decayed core-seconds
    for (org, cluster), past in snapshot.usage.items():
        usage.setdefault(cluster, {})[org] = decay(past.core_seconds, past.at, now, settings.half_life)
    for job in snapshot.jobs:
        if job.org is not None:
            usage.setdefault(home(job), {}).setdefault(job.org, 0.0)
    for org, cluster in (key for key, _ in settings.weights):
        usage.setdefault(cluster, {}).setdefault(org, 0.0)
    out: dict[tuple[int, str], float] = {}
    for cluster, by_org in usage.items():
        total_usage = sum(by_org.values())
        total_weight = sum(settings.weight(org, cluster) for org in by_org)
        for org, used in by_org.items():
            shares = settings.weight(org, cluster) / total_weight
            out[org, cluster] = 1.0 if total_usage <= 0 else 2.0 ** (-(used / total_usage) / shares)
    return out


def reorder(ordered: list[Job], snapshot: Snapshot, now: float, config: SchedulerConfig) -> list[Job]:
    """``ordered`` (the configured ordering) with fair share across organizations; unchanged without it."""
    settings = config.fair_share
    if settings is None:
        return ordered
    factor = factors(snapshot, now, settings)

    def rank(job: Job) -> float:
        return -factor.get((job.org, home(job)), 1.0) if job.org is not None else -1.0

    if config.order == "fifo":  # the one ordering that ignores priorities
        return sorted(ordered, key=rank)  # stable: the configured order stays within a factor
    return sorted(ordered, key=lambda job: (-job.priority, rank(job)))


# --- lending ----------------------------------------------------------------------------


class LendBack:
    """The lending action (actions.py): after the pass, a job of an organization under its
    entitlement evicts what organizations over theirs hold on shared nodes."""

    name = "lend-back"
    after_pass = True

    def __init__(self) -> None:
        self.entitled: dict[tuple[int, str], float] | None = None
        self.held: dict[tuple[int, str], int] = {}
        self._seen: tuple[int, int, int, int] | None = None
        # Request shapes (of an organization) that found no borrower enough since the plan last changed.
        self.hopeless: set[tuple] = set()

    def attempt(self, cycle: Cycle, job: Job) -> bool:
        if job.org is None or cycle.config.fair_share is None:
            return False
        self._refresh(cycle)
        clusters = {c for (org, c) in self.entitled if org == job.org and self._within(job.org, c, job.cores)}
        if not clusters:
            return False  # at or over its entitlement everywhere: it borrows only what is free
        shape = shape_of(job)
        if shape in self.hopeless:
            return False
        shared = [cap for cap in cycle.caps.values() if cap.node.org is None and cap.node.cluster in clusters]
        if evict_for(cycle, job, shared, SAMPLE, rule=self):
            return True
        self.hopeless.add(shape)  # nothing changed: the same request finds the same borrowers
        return False

    # The eviction rule (preemption.py asks it of every running job on a candidate node).
    def may_evict(self, job: Job, victim: Job, node: Node) -> bool:
        return (victim.org is not None and victim.org != job.org and node.org is None
                and self._within(job.org, node.cluster, job.cores) and self._over(victim.org, node.cluster))

    def reason(self, job: Job, victim: Job) -> str:
        return (f"organization {job.org} takes back its fair share for job {job.id} "
                f"(organization {victim.org} borrowed it)")

    def _within(self, org: int, cluster: str, more: int) -> bool:
        return self.held.get((org, cluster), 0) + more <= self.entitled.get((org, cluster), 0.0) + 1e-9

    def _over(self, org: int, cluster: str) -> bool:
        return self.held.get((org, cluster), 0) > self.entitled.get((org, cluster), 0.0) + 1e-9

    def _refresh(self, cycle: Cycle) -> None:
        """What each organization holds on shared nodes now, recounted only when the plan changed."""
        plan = cycle.plan
        seen = (len(plan.placements), len(plan.preemptions), len(plan.shrinks), len(plan.grows))
        if seen == self._seen:
            return
        self._seen = seen
        self.hopeless.clear()
        if self.entitled is None:
            self.entitled = entitlements(cycle.snapshot, cycle.config.fair_share)
        self.held = held(cycle)


def entitlements(snapshot: Snapshot, settings: FairShare) -> dict[tuple[int, str], float]:
    """Cores of each (organization, cluster) on shared nodes: the cluster's shared cores that are up,
    split by weight among the organizations with jobs there (waiting or running)."""
    shared = {n.name: n for n in snapshot.nodes if n.org is None}
    capacity: dict[str, int] = {}
    for node in shared.values():
        if node.state == NodeState.UP:
            capacity[node.cluster] = capacity.get(node.cluster, 0) + node.schedulable_cores
    active: dict[str, set[int]] = {cluster: set() for cluster in capacity}
    jobs = {j.id: j for j in snapshot.jobs}
    for alloc in snapshot.allocations:
        node, job = shared.get(alloc.node), jobs.get(alloc.job_id)
        if node is not None and job is not None and job.org is not None and node.cluster in active:
            active[node.cluster].add(job.org)
    for job in snapshot.pending():
        if job.org is not None:
            for cluster, orgs in active.items():
                if job.cluster is None or job.cluster == cluster:
                    orgs.add(job.org)
    out: dict[tuple[int, str], float] = {}
    for cluster, orgs in active.items():
        total = sum(settings.weight(org, cluster) for org in orgs)
        for org in orgs:
            out[org, cluster] = capacity[cluster] * settings.weight(org, cluster) / total
    return out


def held(cycle: Cycle) -> dict[tuple[int, str], int]:
    """Cores each (organization, cluster) holds on shared nodes once the plan so far is carried out."""
    jobs, caps = cycle.jobs, cycle.caps
    gone = {p.job_id for p in cycle.plan.preemptions}
    out: dict[tuple[int, str], int] = {}

    def add(job_id: int, node_name: str, cores: int) -> None:
        job, cap = jobs.get(job_id), caps.get(node_name)
        if job is not None and job.org is not None and cap is not None and cap.node.org is None:
            key = (job.org, cap.node.cluster)
            out[key] = out.get(key, 0) + cores

    for alloc in cycle.snapshot.allocations:
        if alloc.job_id not in gone:
            add(alloc.job_id, alloc.node, len(alloc.cores))
    for change in _changes(cycle):
        add(*change)
    return out


def _changes(cycle: Cycle) -> Iterable[tuple[int, str, int]]:
    plan = cycle.plan
    gone = {p.job_id for p in plan.preemptions}
    for shrink in plan.shrinks:
        if shrink.job_id not in gone:
            yield shrink.job_id, shrink.node, -len(shrink.cores_removed)
    for grow in plan.grows:
        yield grow.job_id, grow.node, len(grow.cores_added)
    for place in plan.placements:
        yield place.job_id, place.node, len(place.cores)
