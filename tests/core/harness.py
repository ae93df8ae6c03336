"""An in-memory cluster that applies plans exactly as the store does, and checks the invariants.

The unit tests and the stateful property test (test_properties.py) drive the
real core through it: ``Model.snapshot()`` is what the store's
``load_snapshot`` would read, ``Model.apply(plan)`` is ``apply_plan`` (the
allocations from the core's one applier, ``ClusterState.apply``; evictions →
requeue, cancellations, shrinks, placements, grows, each with its events), and
``Model.check()`` raises on any broken invariant of DESIGN.md.

A job holds one allocation per node: a gang (``Job.nodes > 1``) is one job with
one ``Place`` per node in a plan and as many parts in ``Model.allocs``; it
starts, ends, is lost and is cancelled as a whole.

Every job state change goes through ``Model.transition`` (one legal edge of the
lifecycle table, one event), every node state change through
``Model.node_transition``; live resizes write one event each, as the store does.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from heaven.core import fairshare, queue
from heaven.core.cluster import ClusterState, by_job
from heaven.core.model import Allocation, Job, Node, Quota, Reservation, Usage
from heaven.core.plan import Place, Plan
from heaven.core.snapshot import Snapshot
from heaven.core.states import (
    ACTIVE_JOB_STATES, TERMINAL_JOB_STATES, JobState, NodeState, check_job_transition, check_node_transition,
)

J = JobState
# The state a placement leaves a pending job in; ``Model.start`` is the only place that makes the move:
# assigned (placed), then running at once (its agents start every part without delay).
PLACED = J.RUNNING
# The states in which a job holds cores.
HOLDS_CORES = frozenset({J.ASSIGNED, J.RUNNING})
SATURATED = 0.85  # giveback.SATURATED, restated: the tests judge the core, they do not import its constants


class InvariantBroken(AssertionError):
    """An invariant of DESIGN.md does not hold."""


class QuotaExceeded(InvariantBroken):
    """A cluster holds more than its quota."""


class DependencyBroken(InvariantBroken):
    """A job started before its dependency allowed it."""


@dataclass
class Event:
    ts: float
    action: str
    job: int | None = None
    node: str | None = None
    old: str | None = None  # the state before (transitions only)
    new: str | None = None  # the state after (transitions only)
    detail: str = ""


@dataclass
class Model:
    nodes: dict[str, Node] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)  # every job ever accepted, in its current state
    allocs: dict[int, list[Allocation]] = field(default_factory=dict)  # job id -> its parts, one per node
    quotas: dict[str, Quota] = field(default_factory=dict)
    usage: dict[tuple[int, str], Usage] = field(default_factory=dict)  # fair share's past usage, as the store reads it
    reservation: Reservation | None = None
    now: float = 0.0
    events: list[Event] = field(default_factory=list)
    next_id: int = 1
    # The states of the jobs loaded from a snapshot (``Model.of``): where their event history starts.
    baseline: dict[int, str] = field(default_factory=dict)

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def of(cls, snapshot: Snapshot, now: float = 0.0) -> "Model":
        """A model holding what ``snapshot`` holds (ended dependencies become finished jobs)."""
        m = cls(nodes={n.name: n for n in snapshot.nodes}, quotas=dict(snapshot.quotas),
                reservation=snapshot.reservation, now=now, usage=dict(snapshot.usage))
        for job_id, state in snapshot.ended.items():
            m.jobs[job_id] = Job(job_id, state=state)
        for j in snapshot.jobs:
            m.jobs[j.id] = j
        for a in snapshot.allocations:
            m.allocs.setdefault(a.job_id, []).append(a)
        m.next_id = max(m.jobs, default=0) + 1
        m.baseline = {j.id: str(j.state) for j in m.jobs.values()}
        return m

    def submit(self, job: Job) -> Job:
        job = replace(job, id=self.next_id, state=J.PENDING, submitted_at=self.now)
        self.next_id += 1
        self.jobs[job.id] = job
        self.events.append(Event(self.now, "submit", job.id, job.node))
        return job

    # -- what the store reads -----------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        active = tuple(j for j in sorted(self.jobs.values(), key=lambda j: j.id) if j.state in ACTIVE_JOB_STATES)
        wanted = {dep for j in active for dep, _ in j.depends_on}
        ended = {d: self.jobs[d].state for d in wanted
                 if d in self.jobs and self.jobs[d].state not in ACTIVE_JOB_STATES}
        allocs = tuple(a for j in active if j.state in HOLDS_CORES for a in self.allocs[j.id])
        return Snapshot(tuple(self.nodes.values()), active, allocs, self.reservation, ended, dict(self.quotas),
                        dict(self.usage))

    def running(self) -> list[int]:
        return sorted(self.allocs)

    def pending(self) -> list[int]:
        return sorted(j.id for j in self.jobs.values() if j.state == J.PENDING)

    def parts(self) -> list[Allocation]:
        """Every allocation held, a gang's parts each on their own."""
        return [a for parts in self.allocs.values() for a in parts]

    def part(self, job_id: int, node: str) -> int:
        """The position in ``allocs[job_id]`` of the job's part on ``node``."""
        return next(i for i, a in enumerate(self.allocs[job_id]) if a.node == node)

    # -- the one way a state changes ----------------------------------------------------------
    def transition(self, job_id: int, new: JobState, detail: str = "", node: str | None = None) -> None:
        job = self.jobs[job_id]
        check_job_transition(job.state, new)  # raises IllegalTransition
        self.jobs[job_id] = replace(job, state=new)
        self.events.append(Event(self.now, "transition", job_id, node, str(job.state), str(new), detail))

    def start(self, job_id: int, places: list[Place]) -> None:
        """A placement's job moves, with one event per transition, through ``assigned`` into ``PLACED``
        (its allocations are what ``ClusterState.apply`` made of the placement)."""
        detail = "; ".join(f"on {p.node} cores {list(p.cores)}" for p in places)
        self.transition(job_id, J.ASSIGNED, detail, places[0].node)
        self.transition(job_id, PLACED, "its agents started it", places[0].node)

    def node_transition(self, name: str, new: NodeState) -> None:
        node = self.nodes[name]
        check_node_transition(node.state, new)
        self.nodes[name] = replace(node, state=new)
        self.events.append(Event(self.now, "node", None, name, str(node.state), str(new)))

    # -- what users, agents and the node monitor do -------------------------------------------
    def complete(self, job_id: int, ok: bool = True) -> bool:
        """The agent reports an exit. A second report of an ended job changes nothing."""
        if job_id not in self.allocs:
            return False
        parts = self.allocs.pop(job_id)
        self.transition(job_id, J.SUCCEEDED if ok else J.FAILED, node=parts[0].node)
        return True

    def cancel(self, job_id: int) -> bool:
        if self.jobs[job_id].state not in ACTIVE_JOB_STATES:
            return False
        parts = self.allocs.pop(job_id, None)
        self.transition(job_id, J.CANCELLED, "cancelled by a user", parts[0].node if parts else None)
        return True

    def report(self, job_id: int, used: float | None, recent: float | None) -> None:
        """Usage of each part of the job (in cores)."""
        self.allocs[job_id] = [replace(a, used_cores=used, recent_cores=recent) for a in self.allocs[job_id]]

    def disconnect_node(self, name: str) -> None:
        """The node stops heartbeating: disconnected, its jobs keep their cores for its grace."""
        self.node_transition(name, NodeState.DISCONNECTED)

    def lose_node(self, name: str) -> int:
        """The node stayed silent past its grace: disconnected (if not yet), then down; its running jobs
        are lost and go back to the queue (a gang with a part there loses every part)."""
        lost = {a.job_id for a in self.parts() if a.node == name}
        lost |= {j.id for j in self.jobs.values() if j.state == J.SUSPENDED and j.suspended_on == name}
        if self.nodes[name].state != NodeState.DISCONNECTED:
            self.disconnect_node(name)
        self.node_transition(name, NodeState.DOWN)
        for job_id in sorted(lost):
            self.allocs.pop(job_id, None)
            self.transition(job_id, J.LOST, "node lost", name)
            self.transition(job_id, J.PENDING, "back to the queue", name)
            self.jobs[job_id] = replace(self.jobs[job_id], suspended_on=None)
        return len(lost)

    # -- apply_plan ---------------------------------------------------------------------------
    def apply(self, plan: Plan) -> None:
        """What the store's ``apply_plan`` does: the allocations are the core's one applier's
        (``ClusterState.apply``); the model adds the lifecycle transitions and events."""
        now = self.now
        state = ClusterState(self.nodes, {j: tuple(parts) for j, parts in self.allocs.items()}).apply(plan, now)
        self.allocs = {j: list(parts) for j, parts in state.parts.items()}
        for p in plan.preemptions:
            self.transition(p.job_id, J.PREEMPTED, p.reason, p.node)
            self.transition(p.job_id, J.PENDING, "back to the queue", p.node)
        for p in plan.suspensions:  # the process stays on its node, frozen
            self.transition(p.job_id, J.SUSPENDED, p.reason, p.node)
            self.jobs[p.job_id] = replace(self.jobs[p.job_id], suspended_on=p.node)
        for c in plan.cancellations:
            self.transition(c.job_id, J.CANCELLED, c.reason)
        for s in plan.shrinks:
            self.events.append(Event(now, "shrink", s.job_id, s.node, detail=str(list(s.cores_removed))))
        for r in plan.resumes:
            self.transition(r.job_id, J.RUNNING, f"resumed on cores {list(r.cores)}", r.node)
            self.jobs[r.job_id] = replace(self.jobs[r.job_id], suspended_on=None)
        for job_id, parts_of_job in by_job(plan.placements).items():
            self.start(job_id, parts_of_job)
        for g in plan.grows:
            self.events.append(Event(now, "grow", g.job_id, g.node, detail=str(list(g.cores_added))))
        self.reservation = plan.reservation

    # -- invariants ---------------------------------------------------------------------------
    def check(self) -> None:
        owner: dict[int, int] = {}
        per_cluster: dict[str, list[int]] = {}
        held = self.parts()
        for node in self.nodes.values():
            mine = [a for a in held if a.node == node.name]
            cores = sum(len(a.cores) for a in mine)
            memory = sum(a.memory_mb for a in mine)
            storage = sum(a.storage_mb for a in mine)
            gpu_ids = [g for a in mine for g in a.gpu_ids]
            _expect(cores <= node.schedulable_cores, f"node {node.name} over capacity: {cores} cores held")
            _expect(memory <= node.memory_mb, f"node {node.name} over memory: {memory} > {node.memory_mb}")
            _expect(storage <= node.storage_mb, f"node {node.name} over storage: {storage} > {node.storage_mb}")
            _expect(len(set(gpu_ids)) == len(gpu_ids) and all(0 <= g < node.gpus for g in gpu_ids),
                    f"node {node.name} GPUs {gpu_ids} double-booked or unknown")
            _expect(not mine or node.state != NodeState.DOWN, f"jobs still held on down node {node.name}")
            used = per_cluster.setdefault(node.quota_key, [0, 0, 0])
            used[0] += cores
            used[1] += memory
            used[2] += len(gpu_ids)
        for job_id, parts in self.allocs.items():
            nodes = {a.node for a in parts}
            _expect(len(parts) == self.jobs[job_id].nodes == len(nodes),
                    f"job {job_id} asked for {self.jobs[job_id].nodes} nodes and holds parts on {sorted(nodes)}")
        for a in held:
            job = self.jobs[a.job_id]
            node = self.nodes[a.node]
            _expect(job.state in HOLDS_CORES, f"job {job.id} holds cores but is {job.state}")
            _expect(len(set(a.cores)) == len(a.cores), f"job {job.id} holds a core twice: {a.cores}")
            for c in a.cores:
                _expect(c not in owner, f"core {c} held by jobs {owner.get(c)} and {job.id}")
                owner[c] = job.id
                _expect(node.owns(c), f"job {job.id} holds core {c}, which is not on {node.name}")
                _expect(node.local_cores[c - node.core_offset] not in node.reserved,
                        f"job {job.id} holds reserved core {c} of {node.name}")
            _expect(len(a.cores) >= max(job.min_cores, 1),
                    f"job {job.id} holds {len(a.cores)} cores, below its min_cores {job.min_cores}")
            _expect(len(a.cores) <= job.cores, f"job {job.id} holds {len(a.cores)} cores, more than the {job.cores} asked")
            _expect({c for c, _ in a.lent} <= set(a.cores), f"job {job.id} has lent pairs for cores it does not hold")
            if job.node is not None:
                _expect(a.node == job.node, f"job {job.id} pinned to {job.node} runs on {a.node}")
            if job.cluster is not None:
                _expect(node.cluster == job.cluster, f"job {job.id} of cluster {job.cluster} runs in {node.cluster}")
            if job.org is not None and node.org is not None:  # a node of no organization is shared
                _expect(node.org == job.org, f"job {job.id} of organization {job.org} runs on {node.name} of {node.org}")
        for j in self.jobs.values():
            _expect(j.state in ACTIVE_JOB_STATES or j.state in TERMINAL_JOB_STATES,
                    f"job {j.id} left in transient state {j.state}")
            _expect((j.state in HOLDS_CORES) == (j.id in self.allocs), f"job {j.id} is {j.state} with allocations "
                    f"{self.allocs.get(j.id)}")
        for name, quota in self.quotas.items():
            cores, memory, gpus = per_cluster.get(name, [0, 0, 0])
            for limit, have, what in ((quota.cores, cores, "cores"), (quota.memory_mb, memory, "memory_mb"),
                                      (quota.gpus, gpus, "gpus")):
                if limit is not None and have > limit:
                    raise QuotaExceeded(f"cluster {name} holds {have} {what}, over its quota of {limit}")
        self.check_event_log()

    def check_event_log(self) -> None:
        """Replaying the transition events from "pending" gives every job's current state."""
        states = dict(self.baseline)
        for e in self.events:
            if e.action == "submit":
                states[e.job] = str(J.PENDING)
            elif e.action == "transition":
                _expect(states.get(e.job) == e.old, f"event {e} does not follow the job's last state {states.get(e.job)}")
                states[e.job] = e.new
        for j in self.jobs.values():
            if j.id in states:
                _expect(states[j.id] == str(j.state), f"events say job {j.id} is {states[j.id]}, it is {j.state}")

    def transitions(self) -> int:
        return sum(1 for e in self.events if e.action in ("transition", "node"))


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise InvariantBroken(message)


EVICTED_FOR = re.compile(r"evicted for job (\d+)")
TAKEN_BACK = re.compile(r"job (\d+) took back")
FAIR_SHARE = re.compile(r"organization (\d+) takes back its fair share for job (\d+)")


def check_plan(snapshot: Snapshot, plan: Plan, now: float, config) -> None:
    """What every plan must respect, judged against the snapshot it was made from.

    Raises InvariantBroken (DependencyBroken for a start its dependency forbids).
    """
    jobs = {j.id: j for j in snapshot.jobs}
    allocs = {a.job_id: a for a in snapshot.allocations}  # the one part of each job that is not a gang
    nodes = {n.name: n for n in snapshot.nodes}
    placed = {p.job_id: p for p in plan.placements}
    grown = {g.job_id: g for g in plan.grows}
    c = plan.counts
    _expect((c.scheduled, c.preempted, c.shrunk, c.grown, c.suspended, c.resumed) ==
            (len(placed), len(plan.preemptions), len(plan.shrinks), len(plan.grows), len(plan.suspensions),
             len(plan.resumes)), f"counts {c} do not match the plan (a gang is scheduled once)")
    _expect(config.giveback == "suspend" or not plan.suspensions, "a job is suspended under giveback=requeue")
    touched = [x.job_id for part in (plan.preemptions, plan.suspensions, plan.shrinks, plan.grows) for x in part]
    _expect(len(touched) == len(set(touched)), f"a running job is changed twice in one plan: {sorted(touched)}")
    gangs = sorted({j for j in touched if jobs[j].nodes > 1} |
                   {p.job_id for p in plan.placements if p.lent and jobs[p.job_id].nodes > 1})
    _expect(not gangs, f"gangs {gangs} are shrunk, grown, evicted or borrow cores")

    for p in plan.placements:
        job = jobs[p.job_id]
        node = nodes[p.node]
        _expect(job.state == J.PENDING, f"placed job {job.id} is {job.state}")
        _expect(node.state == NodeState.UP, f"job {job.id} placed on {node.name}, which is {node.state}")
        for dep, kind in job.depends_on:
            if not _met(dep, kind, snapshot.ended):
                raise DependencyBroken(f"job {job.id} starts while its {kind} dependency {dep} is "
                                       f"{snapshot.ended.get(dep) or 'still active'}")
        for core, donor in p.lent:
            shrink = next((s for s in plan.shrinks if s.job_id == donor), None)
            _expect(shrink is not None and core in shrink.cores_removed,
                    f"job {job.id} says core {core} was lent by {donor}, which gave up no such core")

    if config.policy == "fcfs" and not config.hold_head:
        # Strict: once a job free to start (its dependencies met) stays pending, nothing behind it starts.
        blocked = None
        for job in fairshare.reorder(queue.order(snapshot.pending(), config.order), snapshot, now, config):
            if job.id in placed:
                _expect(blocked is None, f"fcfs started job {job.id} behind job {blocked}, which could not start")
            elif blocked is None and all(_met(dep, kind, snapshot.ended) for dep, kind in job.depends_on):
                blocked = job.id

    for cancel in plan.cancellations:
        job = jobs[cancel.job_id]
        failed = [d for d, kind in job.depends_on
                  if kind == "afterok" and snapshot.ended.get(d) not in (None, J.SUCCEEDED)]
        _expect(job.state == J.PENDING and failed, f"job {job.id} cancelled though no afterok dependency failed")

    for r in plan.resumes:
        job, node = jobs[r.job_id], nodes[r.node]
        _expect(job.state == J.SUSPENDED and job.suspended_on == r.node,
                f"job {job.id} ({job.state} on {job.suspended_on}) resumed on {r.node}")
        _expect(node.state == NodeState.UP and len(r.cores) == job.cores,
                f"job {job.id} resumed with {len(r.cores)} of {job.cores} cores on {r.node} ({node.state})")
    for p in plan.suspensions:
        _expect(jobs[p.job_id].state == J.RUNNING, f"job {p.job_id} suspended while {jobs[p.job_id].state}")
    for p in [*plan.preemptions, *plan.suspensions]:  # one victim search: the same rules for both
        victim, alloc = jobs[p.job_id], allocs[p.job_id]
        m, back, lender = EVICTED_FOR.search(p.reason), TAKEN_BACK.search(p.reason), FAIR_SHARE.search(p.reason)
        if lender:  # fair share: a job of another organization, on a shared node, whatever the priorities
            winner = jobs[int(lender.group(2))]
            _expect(winner.org == int(lender.group(1)) and victim.org is not None and victim.org != winner.org,
                    f"job {victim.id} of organization {victim.org} lent back to job {winner.id} of {winner.org}")
            _expect(config.fair_share is not None and nodes[alloc.node].org is None,
                    f"job {victim.id} lent back on {alloc.node} without fair share or on an organization's node")
            _expect(winner.id in placed and placed[winner.id].node == alloc.node,
                    f"job {victim.id} evicted for job {winner.id}, which is not placed on {alloc.node}")
        elif m:
            winner = jobs[int(m.group(1))]
            _expect(winner.priority > victim.priority,
                    f"job {victim.id} (priority {victim.priority}) evicted for job {winner.id} "
                    f"(priority {winner.priority})")
            _expect(winner.id in placed and placed[winner.id].node == alloc.node,
                    f"job {victim.id} evicted for job {winner.id}, which is not placed on {alloc.node}")
        elif back:
            donor = int(back.group(1))
            _expect(any(d == donor for _, d in alloc.lent), f"job {victim.id} evicted for donor {donor} it never "
                    "borrowed from")
            _expect(donor in grown, f"job {victim.id} evicted for donor {donor}, which does not grow")
        else:
            raise InvariantBroken(f"eviction of job {victim.id} gives no reason the tests know: {p.reason!r}")

    for s in plan.shrinks:
        job, alloc = jobs[s.job_id], allocs[s.job_id]
        removed = set(s.cores_removed)
        _expect(removed <= set(alloc.cores), f"job {job.id} shrinks by cores it does not hold")
        borrowers = [q for q in plan.placements if any(d == job.id and core in removed for core, d in q.lent)]
        lenders = {d for core, d in alloc.lent if core in removed}
        if borrowers:  # stealing: only from a measured, idle job out of its cool-down
            _expect(alloc.used_cores is not None, f"job {job.id} without usage samples was shrunk")
            _expect(alloc.resized_at is None or now - alloc.resized_at >= config.cooldown,
                    f"job {job.id} shrunk at t={now:g}, resized at t={alloc.resized_at} (cool-down "
                    f"{config.cooldown:g}s)")
            keep = max(job.min_cores, config.min_cores,
                       math.ceil(alloc.used_cores * (1 + config.headroom) - 1e-9))
            _expect(len(alloc.cores) - len(removed) >= min(keep, len(alloc.cores)),
                    f"job {job.id} shrunk to {len(alloc.cores) - len(removed)}, below what it uses ({keep})")
        else:  # give-back: only cores a donor lent it, and the donor grows with them
            _expect(len(lenders) == 1 and all(any(core == c for c, _ in alloc.lent) for core in removed),
                    f"job {job.id} shrinks by {sorted(removed)}, neither for a placement nor to a donor")
            donor = lenders.pop()
            _expect(donor in grown and removed <= set(grown[donor].cores_added),
                    f"job {job.id} gave back {sorted(removed)} but donor {donor} does not get them")
        _expect(len(alloc.cores) - len(removed) >= max(job.min_cores, 1), f"job {job.id} shrunk below min_cores")

    for g in plan.grows:
        job, alloc = jobs[g.job_id], allocs[g.job_id]
        held = len(alloc.cores)
        _expect(held < job.cores and alloc.recent_cores is not None and alloc.recent_cores >= SATURATED * held,
                f"job {job.id} grown though it was not shrunk and busy (holds {held}/{job.cores}, recent "
                f"{alloc.recent_cores})")
        _expect(held + len(g.cores_added) <= job.cores, f"job {job.id} grown beyond its request")


def _met(dep: int, kind: str, ended: dict) -> bool:
    """A dependency allows its job to start: ``afterok`` once it succeeded, ``afterany`` once it ended."""
    state = ended.get(dep)
    return state == J.SUCCEEDED if kind == "afterok" else state is not None


def run_cycle(snapshot: Snapshot, config, now: float = 0.0, seed: int = 0) -> Plan:
    """``schedule`` once, then hold the plan to every rule: ``verify`` accepts all of it, ``check_plan``
    finds nothing, and once applied to a model of the snapshot every invariant holds."""
    import random

    from heaven.core.scheduler import schedule
    from heaven.core.verify import verify

    plan = schedule(snapshot, now, random.Random(seed), config)
    checked = verify(snapshot, plan)
    assert checked.rejected == [], f"verify rejects parts of a fresh plan: {checked.rejected}"
    check_plan(snapshot, plan, now, config)
    model = Model.of(snapshot, now)
    model.apply(plan)
    model.check()
    return plan
