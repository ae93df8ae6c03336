"""Node-pool autoscaling: one pure decision over a pool's snapshot.

``decide(view, now)`` reads what a pool has (its nodes, how busy and how long idle each is),
what waits for capacity (the jobs the scheduler could not fit, by its own why-pending
reasons) and the pool's rules, and returns actions, each with the reason that becomes its
event. It reads no clock and touches nothing: the controller's loop
(heaven/control/pools/loop.py) builds the view, carries the actions out through a
provider, and records them.

The elasticity order, one ladder for the whole product (ELASTICITY_ORDER):
  demand rises:  1. give cores back to shrunk jobs   (the scheduler's cycle, before any of this)
                 2. hot-plug vCPUs into VM nodes     (PlugVcpus, up to ``vcpu_room``)
                 3. add nodes                        (Resume a draining node, then Launch)
  demand falls:  3. remove idle nodes                (Drain, then Retire once empty)
                 2. unplug vCPUs of VM nodes         (UnplugVcpus, up to ``vcpu_spare``)
                 1. shrink jobs                      (the scheduler's stealing, from measured use)
A rung is used only when the one before it cannot cover the demand: the scheduler already
gave back what it could when a job is still waiting, so this function starts at rung 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from heaven.core import reasons
from heaven.core.gang import NOT_ENOUGH_NODES

RISING = ("give back cores to shrunk jobs", "hot-plug vCPUs into VM nodes", "add nodes")
ELASTICITY_ORDER = {"rising": RISING, "falling": tuple(reversed(RISING))}

# The why-pending reasons that more capacity would cure. Not the quota (a bigger pool does
# not lift it), not dependencies, not a pin to a named node.
CAPACITY_REASONS = frozenset({reasons.INSUFFICIENT_CPU, reasons.INSUFFICIENT_MEMORY, reasons.NO_NODES,
                              reasons.BLOCKED_BY_HEAD, NOT_ENOUGH_NODES})

LAUNCHING, UP, DRAIN, DOWN = "launching", "up", "drain", "down"


@dataclass(frozen=True, slots=True)
class PoolRules:
    min_nodes: int = 0
    max_nodes: int = 1
    initial_workers: int = 0  # nodes started when the pool starts (at least min_nodes)
    node_cores: int = 1
    max_cpu_threshold: float = 80.0  # pool busy share (%) above which nodes are added until it is below
    prespawn_threshold: float = 70.0  # busy share (%) at which one node is started ahead of demand
    scale_in_cooldown: float = 60.0  # seconds a node stays idle before it is removed
    launch_timeout: float = 60.0  # seconds a started node may take to join


@dataclass(frozen=True, slots=True)
class PoolNode:
    name: str
    state: str  # launching | up | drain | down
    cores: int
    busy_cores: int = 0  # cores held by jobs
    idle_since: float | None = None  # None: it holds work (or has not joined)
    launched_at: float | None = None  # when this pool started it (None: adopted)


@dataclass(frozen=True, slots=True)
class Demand:
    """A job waiting for capacity: ``parts`` pieces of ``cores`` each (a gang has several)."""

    job_id: int
    cores: int
    parts: int = 1


@dataclass(frozen=True, slots=True)
class PoolView:
    rules: PoolRules
    nodes: tuple[PoolNode, ...] = ()
    demand: tuple[Demand, ...] = ()
    starting: bool = False  # the pool's first look: bring it to INITIAL_WORKERS
    vcpu_room: int = 0  # cores VM nodes of the pool could still have plugged in (rung 2)
    vcpu_spare: int = 0  # plugged vCPUs no job uses, that could be unplugged


@dataclass(frozen=True, slots=True)
class Launch:
    count: int
    reason: str
    action: str = "scale_out"  # scale_out | prespawn | scale_min | initial


@dataclass(frozen=True, slots=True)
class Resume:
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Drain:
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Retire:
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlugVcpus:
    cores: int
    reason: str


@dataclass(frozen=True, slots=True)
class UnplugVcpus:
    cores: int
    reason: str


@dataclass(slots=True)
class Decision:
    actions: list = field(default_factory=list)
    unfit: tuple[int, ...] = ()  # waiting jobs no node of this pool could ever hold


def decide(view: PoolView, now: float) -> Decision:
    rules, out = view.rules, Decision()
    live = [n for n in view.nodes if n.state != DOWN and not _overdue(n, rules, now)]
    fits = [d for d in view.demand if d.cores <= rules.node_cores]
    out.unfit = tuple(sorted(d.job_id for d in view.demand if d.cores > rules.node_cores))
    rising = _scale_out(fits, live, view, rules) if fits else _floor_and_headroom(live, view, rules)
    resumed = {a.node for a in rising if isinstance(a, Resume)}
    out.actions += [r for r in _retire(view.nodes, rules, now) if r.node not in resumed]
    out.actions += rising
    if not fits and not any(isinstance(a, (Launch, Resume, PlugVcpus)) for a in rising):
        out.actions += _scale_in(live, view, rules, now)
    return out


def _overdue(node: PoolNode, rules: PoolRules, now: float) -> bool:
    return node.state == LAUNCHING and node.launched_at is not None and now - node.launched_at > rules.launch_timeout


def _retire(nodes: tuple[PoolNode, ...], rules: PoolRules, now: float) -> list:
    out = []
    for n in nodes:
        if _overdue(n, rules, now):
            out.append(Retire(n.name, f"it did not join within {rules.launch_timeout:g}s"))
        elif n.state == DOWN:
            out.append(Retire(n.name, "its agent stopped heartbeating"))
        elif n.state == DRAIN and n.busy_cores == 0:
            out.append(Retire(n.name, "drained: no job holds a core on it"))
    return out


def _pieces(demand: list[Demand]) -> list[tuple[int, int]]:
    """(cores, job) per piece, largest first (first-fit decreasing packs them tightest), the
    oldest job first among equals, as the scheduler places them."""
    return sorted(((d.cores, d.job_id) for d in demand for _ in range(d.parts)), key=lambda p: (-p[0], p[1]))


def _pack(pieces: list[tuple[int, int]], free: list[int]) -> list[tuple[int, int]]:
    """Place what fits into ``free`` (changed in place); returns what did not fit."""
    left = []
    for cores, job in pieces:
        slot = next((i for i, f in enumerate(free) if f >= cores), None)
        if slot is None:
            left.append((cores, job))
        else:
            free[slot] -= cores
    return left


def _jobs(pieces: list[tuple[int, int]]) -> str:
    """"job 4 waits" or "jobs 4, 5 wait": the subject and verb of a reason."""
    ids = sorted({job for _, job in pieces})
    shown = ", ".join(str(i) for i in ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
    return f"jobs {shown} wait" if len(ids) > 1 else f"job {shown} waits"


def _scale_out(demand: list[Demand], live: list[PoolNode], view: PoolView, rules: PoolRules) -> list:
    """Rungs 2 and 3 of the rising ladder, for jobs the scheduler could not fit."""
    pieces = _pieces(demand)
    # What is up or on its way absorbs demand first (a core freed since the cycle, a node joining).
    free = [n.cores - n.busy_cores for n in live if n.state in (UP, LAUNCHING)]
    left = _pack(pieces, free)
    out: list = []
    if left and view.vcpu_room:
        asked = min(view.vcpu_room, sum(c for c, _ in left))
        out.append(PlugVcpus(asked, f"{_jobs(left)} for {_n(sum(c for c, _ in left), 'core')}: "
                                    f"plug {asked} vCPUs into VM nodes before adding nodes"))
        left = _pack(left, [asked])  # a VM node takes a whole piece or none of it
    for n in (n for n in live if n.state == DRAIN):
        if not left:
            break
        before = len(left)
        left = _pack(left, [n.cores - n.busy_cores])
        if len(left) < before:
            out.append(Resume(n.name, f"{_jobs(pieces)} for capacity: a draining node comes back first"))
    if not left:
        return out
    needed = len(_bins(left, rules.node_cores))
    room = rules.max_nodes - len(live)
    count = min(needed, max(0, room))
    waiting = f"{_jobs(left)} for {_n(sum(c for c, _ in left), 'core')} that no node of the pool has free"
    if count == 0:
        return [*out, Launch(0, f"{waiting}; the pool is at its maximum of {rules.max_nodes} nodes")]
    capped = f" (the maximum of {rules.max_nodes} allows {count} of {needed})" if count < needed else ""
    return [*out, Launch(count, f"{waiting}: start {_n(count, 'node')} of "
                                f"{_n(rules.node_cores, 'core')}{capped}")]


def _bins(pieces: list[tuple[int, int]], size: int) -> list[int]:
    bins: list[int] = []
    for cores, _ in pieces:
        slot = next((i for i, f in enumerate(bins) if f >= cores), None)
        if slot is None:
            bins.append(size - cores)
        else:
            bins[slot] -= cores
    return bins


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _share(busy: int, total: int) -> float:
    return 100.0 * busy / total if total else 0.0


def _floor_and_headroom(live: list[PoolNode], view: PoolView, rules: PoolRules) -> list:
    """No job waits: keep the floor (min or initial), and start nodes ahead of demand by the thresholds."""
    count = len(live)
    floor = max(rules.min_nodes, rules.initial_workers) if view.starting else rules.min_nodes
    floor = min(floor, rules.max_nodes)
    if count < floor:
        what = "initial" if view.starting and rules.initial_workers > rules.min_nodes else "scale_min"
        setting = "INITIAL_WORKERS" if what == "initial" else "the minimum"
        return [Launch(floor - count, f"the pool has {count} nodes, {setting} is {floor}", what)]
    counted = [n for n in live if n.state in (UP, LAUNCHING)]
    busy, total = sum(n.busy_cores for n in counted), sum(n.cores for n in counted)
    share = _share(busy, total)
    room = rules.max_nodes - count
    if total == 0 or room <= 0:
        return []
    if share >= rules.max_cpu_threshold:
        # Enough nodes that the share drops below the ceiling again.
        wanted = math.floor(100.0 * busy / rules.max_cpu_threshold - total) // rules.node_cores + 1
        add = max(1, min(room, wanted))
        return [Launch(add, f"{busy} of {total} cores busy ({share:.0f}%) reaches MAX_CPU_THRESHOLD "
                            f"{rules.max_cpu_threshold:g}%: start {add}", "scale_out")]
    if share >= rules.prespawn_threshold and not any(n.state == LAUNCHING for n in live):
        return [Launch(1, f"{busy} of {total} cores busy ({share:.0f}%) reaches PRESPAWN_THRESHOLD "
                          f"{rules.prespawn_threshold:g}%: one node ahead of demand", "prespawn")]
    return []


def _scale_in(live: list[PoolNode], view: PoolView, rules: PoolRules, now: float) -> list:
    """The falling ladder: idle nodes first (rung 3), then spare vCPUs (rung 2); shrinking
    jobs (rung 1) is the scheduler's own, from measured use."""
    if any(n.state == LAUNCHING for n in live):
        return []
    ups = [n for n in live if n.state == UP]
    busy, total = sum(n.busy_cores for n in ups), sum(n.cores for n in ups)
    # The share left after a removal must stay under both thresholds, or the next look would add the node back.
    ceiling = min(rules.prespawn_threshold, rules.max_cpu_threshold)
    count = len(ups)  # draining nodes are on their way out already
    out: list = []
    idle = [n for n in ups if n.busy_cores == 0 and n.idle_since is not None
            and now - n.idle_since >= rules.scale_in_cooldown]
    # Longest idle first; among equals the last in name order (a pool's newest node: the old ones stay).
    idle = sorted(sorted(idle, key=lambda n: n.name, reverse=True), key=lambda n: n.idle_since)
    for n in idle:
        if count <= rules.min_nodes:
            break
        left_total = total - n.cores
        if busy and (left_total <= 0 or _share(busy, left_total) >= ceiling):
            break
        out.append(Drain(n.name, f"idle for {now - n.idle_since:.0f}s (cool-down {rules.scale_in_cooldown:g}s); "
                                 f"{_n(count - 1, 'node')} {'stays' if count == 2 else 'stay'} (minimum {rules.min_nodes})"))
        count, total = count - 1, left_total
    if not out and view.vcpu_spare:
        out.append(UnplugVcpus(view.vcpu_spare, f"no node can go: unplug {view.vcpu_spare} idle vCPUs of VM nodes"))
    return out
