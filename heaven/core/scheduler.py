"""The pipeline: one scheduling cycle from a snapshot to a plan, as a declared stack.

    snapshot ─▶ give-back ─▶ resume ─▶ queue order ─▶ for each job:  gate ─▶ fit ─▶ actions (inline)
               (giveback)  (suspension) (queue.py)                 (deps)  (placement: ranking + feasibility)
                                                                    │ blocked head (strict policies)
                                             actions (after the pass) ◀┘
                                                  │
                                                  ▼
                                      backfill around the head's reservation (backfill.py)

Every placing stage asks the one feasibility list (feasibility.py) and walks
nodes in the one ranking (ranking.py); what the cycle has taken so far lives in
``Cycle`` (cycle.py). Post-filter actions (actions.py: steal, preempt) are
wired in ``actions_for`` and nowhere else. The policy (config.py) is a value
the stages ask questions of.

A gang (``Job.nodes > 1``, see gang.py) that cannot start blocks a strict or
backfilling pass like any other head; greedy lets later jobs pass it. The
backfilling policies cannot reason about a gang's reservation (it needs cores on
several nodes at once), so a gang head is held with no start time
(``Reservation(head.id)``) and nothing behind it is backfilled until it starts.
Gangs neither steal nor evict.

``hold_head`` keeps the blocked head first across cycles even when the ordering
would now put another job before it (the published protocol's behaviour;
rl-backfill always holds). ``explain=False`` skips the per-job reasons and
positions, and stops a strict cycle at the blocked head: the simulator runs a
cycle per event and needs it cheap.
"""
from __future__ import annotations

import random

from heaven.core import backfill, dependencies, fairshare, gang, giveback, queue, reasons, suspension
from heaven.core.actions import Action
from heaven.core.config import BACKFILLING, POLICIES, Policy, SchedulerConfig
from heaven.core.cycle import Cycle
from heaven.core.model import Job, Reservation
from heaven.core.plan import Cancel, Plan
from heaven.core.preemption import Evict, shape_of
from heaven.core.reasons import Reason
from heaven.core.reclaim import Steal
from heaven.core.snapshot import Snapshot
from heaven.core.states import JobState

__all__ = ["BACKFILLING", "POLICIES", "Policy", "SchedulerConfig", "actions_for", "schedule"]


def actions_for(config: SchedulerConfig) -> tuple[Action, ...]:
    """The post-filter actions of a cycle, fresh, in the order they are tried: the one place they are wired."""
    stack: list[Action] = []
    if config.steal:
        stack.append(Steal())
    if config.preempt:
        stack.append(Evict())
    if config.fair_share is not None:
        stack.append(fairshare.LendBack())
    return tuple(stack)


def schedule(snapshot: Snapshot, now: float, rng: random.Random, config: SchedulerConfig) -> Plan:
    """Return the plan for one cycle. Pure: ``now`` and ``rng`` are the only
    sources of time and chance (rng breaks no ties yet; it is part of the
    contract so the simulator stays deterministic as policies grow)."""
    del rng
    cycle = Cycle(snapshot, now, config)
    plan = cycle.plan
    ordered = _ordered(snapshot, now, config)
    if config.explain:
        plan.positions = {job.id: position for position, job in enumerate(ordered, start=1)}
    if config.steal:
        giveback.give_back(cycle)  # a donor whose use climbs is served before anyone waiting
    suspension.resume_suspended(cycle)  # a suspended job was admitted before anyone waiting
    actions = actions_for(config)
    head_at, unplaced = _pass(cycle, ordered, tuple(a for a in actions if not a.after_pass))
    rescued = 0
    after = tuple(a for a in actions if a.after_pass)
    for job in unplaced if after else ():  # only for jobs nothing gentler could place
        if job.nodes > 1:
            continue
        if any(action.attempt(cycle, job) for action in after):
            rescued += 1
            plan.waiting.pop(job.id, None)
            if head_at is not None and ordered[head_at] is job:
                head_at = None
    plan.unschedulable = len(unplaced) - rescued
    if config.explain:
        _count_higher_priority_ahead(ordered, plan)
    if head_at is not None:
        _behind_the_head(cycle, ordered[head_at], ordered[head_at + 1:])
    return plan


def _pass(cycle: Cycle, ordered: list[Job], inline: tuple[Action, ...]) -> tuple[int | None, list[Job]]:
    """Every job in queue order: its dependency gate, then direct fit, then the inline actions.

    Returns where a strict pass stopped (the blocked head's index) and the jobs left unplaced."""
    snapshot, plan, strict = cycle.snapshot, cycle.plan, cycle.config.policy.strict
    unplaced: list[Job] = []
    # Capacity only shrinks within a pass, so a request shape that found no room
    # finds none later either: its reason is reused instead of searching again.
    no_room: dict[tuple, Reason | None] = {}
    for i, job in enumerate(ordered):
        if job.depends_on:
            gate = dependencies.blocker(job, snapshot.ended)
            if isinstance(gate, Cancel):
                plan.cancellations.append(gate)
                continue
            if gate is not None:
                cycle.wait(job, gate)
                continue
        if job.nodes > 1:
            why = gang.place(cycle, job)
            if why is None:
                continue
        else:
            shape = shape_of(job)
            if shape in no_room:
                why = no_room[shape]
            else:
                cap, why = cycle.fit(job)
                if cap is not None:
                    cycle.place(job, cap)
                    continue
                if any(action.attempt(cycle, job) for action in inline):
                    continue
                no_room[shape] = why
        unplaced.append(job)
        cycle.wait(job, why)
        if strict:
            return i, unplaced
    return None, unplaced


def _behind_the_head(cycle: Cycle, head: Job, rest: list[Job]) -> None:
    """A strict pass stopped at ``head``: reserve for it, backfill if the policy does, explain the rest."""
    snapshot, plan, config = cycle.snapshot, cycle.plan, cycle.config
    if config.policy.backfills:
        # Only jobs free to start may backfill; the others get their dependency reason here.
        ready = []
        for job in rest:
            gate = dependencies.blocker(job, snapshot.ended) if job.depends_on else None
            if gate is None:
                if job.nodes == 1:
                    ready.append(job)
            elif isinstance(gate, Cancel):
                plan.cancellations.append(gate)
            else:
                cycle.wait(job, gate)
        if head.nodes > 1:
            # backfill.protect reserves cores on one node; it cannot tell when, nor on which nodes, a gang's
            # parts will all fit. So a gang head gets no start time and nothing backfills past it: the pass
            # stays strict, as fcfs, until the gang starts.
            plan.reservation = Reservation(head.id)
        else:
            plan.reservation = backfill.protect(cycle, head, ready, snapshot.reservation)
    else:
        plan.reservation = Reservation(head.id)
    if config.explain:
        why = _blocked(head, plan.reservation)
        placed = {p.job_id for p in plan.placements}
        for job in rest:
            if job.id not in plan.waiting and job.id not in placed:
                plan.waiting[job.id] = why


def _count_higher_priority_ahead(ordered: list[Job], plan: Plan) -> None:
    """Add "; N higher-priority jobs ahead" to the reason of every waiting job that has them."""
    placed = {p.job_id for p in plan.placements}
    ahead: dict[int, int] = {}  # priority -> waiting jobs seen so far with that priority
    for job in ordered:
        reason = plan.waiting.get(job.id)
        higher = 0 if reason is None else sum(n for priority, n in ahead.items() if priority > job.priority)
        if higher:
            plural = "s" if higher > 1 else ""
            plan.waiting[job.id] = Reason(reason.code, f"{reason.message}; {higher} higher-priority job{plural} ahead",
                                          reason.field)
        if job.id not in placed:
            ahead[job.priority] = ahead.get(job.priority, 0) + 1


def _ordered(snapshot: Snapshot, now: float, config: SchedulerConfig) -> list[Job]:
    """The pending jobs in queue order (fair share across organizations, if on), the held head first."""
    ordered = fairshare.reorder(queue.order(snapshot.pending(), config.order), snapshot, now, config)
    held = snapshot.reservation
    if held is None or not config.holds_head or not ordered:
        return ordered
    if ordered[0].id == held.job_id:
        return ordered
    for i, job in enumerate(ordered):
        if job.id == held.job_id and job.state == JobState.PENDING:
            return [job, *ordered[:i], *ordered[i + 1:]]
    return ordered


def _blocked(head: Job, reservation: Reservation) -> Reason:
    when = "" if reservation.start is None else f", reserved to start at t={reservation.start:g}"
    return Reason(reasons.BLOCKED_BY_HEAD, f"waiting behind job {head.id}{when}")
