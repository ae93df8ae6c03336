"""Backfilling: later jobs start now if they cannot delay the blocked head.

The head of the queue does not fit; it gets a *reservation*: the earliest time
enough cores free up on some node, read from the running jobs' ``started_at``
plus their ``walltime`` (the estimate; a job without one never ends). Then the
jobs behind it are tried in turn. Two policies, both stages of the same core:

- ``rl-backfill`` — RLScheduler's variant (Zhang et al., SC'20), the one its
  published figures use. The reservation is computed once, when the head first
  fails to fit, and comes back unchanged in every plan until the head starts
  (the caller carries it in ``Snapshot.reservation``). Running jobs that
  overran their estimate still count at their estimated end, even in the past.
  Candidates are tried in priority-then-FIFO order whatever the queue ordering;
  one starts if it fits now and now + walltime is strictly before the
  reservation. No "extra cores" rule.
- ``easy`` — true EASY (Mu'alem & Feitelson, TPDS 2001). The reservation is
  recomputed every cycle (an overrunning job is taken to end now) and
  candidates follow the queue ordering. One starts if it fits now and either
  ends by the reservation, or uses only cores the head will not need then
  (the *extra* cores at the reservation, or another node).

The reservation covers cores only: memory, storage and GPUs are checked when
a job is placed, not promised ahead.

A reservation is for one node: a gang head is never passed here. The scheduler
holds it with no start and backfills nothing past it (see scheduler.py).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from heaven.core import queue, reasons
from heaven.core.model import Job, Reservation, may_run_on
from heaven.core.reasons import Reason

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle


def protect(cycle: Cycle, head: Job, rest: list[Job], previous: Reservation | None) -> Reservation:
    """Reserve cores for ``head``, backfill ``rest`` around it, return the reservation."""
    if cycle.config.policy.keeps_reservation:
        if previous is not None and previous.job_id == head.id and previous.start is not None:
            reservation = previous
        else:
            reservation, _ = reserve(cycle, head, clamp=False)
        _published(cycle, reservation, rest)
        return reservation
    reservation, extra = reserve(cycle, head, clamp=True)
    _easy(cycle, reservation, extra, rest)
    return reservation


def running_ends(cycle: Cycle, node: str, clamp: bool) -> list[tuple[float, int]]:
    """(estimated end, cores held) of every job on ``node``, soonest first.

    Includes jobs placed earlier in this cycle and counts cores a shrink in this
    cycle took away. ``clamp`` reads an end already past as "now".
    """
    now = cycle.now
    jobs = cycle.jobs
    plan = cycle.plan
    removed: dict[int, int] = {}
    for shrink in plan.shrinks:
        removed[shrink.job_id] = removed.get(shrink.job_id, 0) + len(shrink.cores_removed)
    ends: list[tuple[float, int]] = []
    for alloc in cycle.snapshot.allocations:
        if alloc.node != node:
            continue
        job = jobs.get(alloc.job_id)
        walltime = None if job is None else job.walltime
        end = math.inf if walltime is None else alloc.started_at + walltime
        ends.append((max(end, now) if clamp else end, len(alloc.cores) - removed.get(alloc.job_id, 0)))
    for place in plan.placements:
        if place.node == node:
            walltime = jobs[place.job_id].walltime
            ends.append((math.inf if walltime is None else now + walltime, len(place.cores)))
    ends.sort(key=lambda e: e[0])
    return ends


def reserve(cycle: Cycle, head: Job, clamp: bool) -> tuple[Reservation, int]:
    """The head's reservation and the extra cores at it.

    The node chosen is the one where enough cores free up first. When no node
    ever frees enough (jobs without walltime hold them) the reservation has no
    start and nothing later is held back.
    """
    best: tuple[float, int, str] | None = None
    for cap in cycle.caps.values():
        node = cap.node
        if not cap.ready or _capacity(node) < head.cores:
            continue
        if not may_run_on(head, node):
            continue
        ends = running_ends(cycle, node.name, clamp)
        free, start, k = cap.free_cores, cycle.now, 0
        while free < head.cores and k < len(ends):
            start, cores = ends[k]
            free += cores
            k += 1
        if free < head.cores or math.isinf(start):
            continue
        while k < len(ends) and ends[k][0] <= start:  # ending at the same instant
            free += ends[k][1]
            k += 1
        extra = free - head.cores
        if best is None or start < best[0]:
            best = (start, extra, node.name)
    if best is None:
        return Reservation(head.id), 0
    return Reservation(head.id, best[0], best[2]), best[1]


def _capacity(node) -> int:
    return node.schedulable_cores if node.reserved else node.total_cores


def _published(cycle: Cycle, reservation: Reservation, rest: list[Job]) -> None:
    start = math.inf if reservation.start is None else reservation.start
    now, explain = cycle.now, cycle.config.explain
    candidates = rest if cycle.config.order in ("fifo", "priority") else queue.order(rest, "priority")
    largest = cycle.largest_free()
    for job in candidates:
        if largest == 0:
            return
        if job.walltime is None or not now + job.walltime < start:
            _why(cycle, job, reservation)
            continue
        if job.cores > largest and not explain:
            continue  # the cheap answer; fit() would say the same, slower
        cap, reason = cycle.fit(job)
        if cap is None:
            cycle.wait(job, reason)
            continue
        cycle.place(job, cap)
        largest = cycle.largest_free()


def _easy(cycle: Cycle, reservation: Reservation, extra: int, rest: list[Job]) -> None:
    start = math.inf if reservation.start is None else reservation.start
    now, explain = cycle.now, cycle.config.explain
    largest = cycle.largest_free()
    elsewhere = cycle.largest_free(excluding=reservation.node)
    for job in rest:
        if largest == 0:
            return
        if job.cores > largest and not explain:
            continue
        in_time = job.walltime is not None and now + job.walltime <= start
        avoid = None if in_time or job.cores <= extra else reservation.node
        if avoid is not None and job.cores > elsewhere and not explain:
            continue  # it could only go on the reserved node, and would delay the head
        cap, reason = cycle.fit(job, avoid)
        if cap is None:
            cycle.wait(job, reason)
            continue
        place = cycle.place(job, cap)
        if not in_time and place.node == reservation.node:
            extra -= job.cores
        largest = cycle.largest_free()
        elsewhere = cycle.largest_free(excluding=reservation.node)


def _why(cycle: Cycle, job: Job, reservation: Reservation) -> None:
    if not cycle.config.explain:
        return
    if job.walltime is None:
        text = f"waiting behind job {reservation.job_id}: without a walltime it cannot be backfilled"
    else:  # only reached with a reservation time: without one every walltime is in time
        text = (f"waiting behind job {reservation.job_id}: it would not end before "
                f"t={reservation.start:g}, when that job is reserved to start")
    cycle.wait(job, Reason(reasons.BLOCKED_BY_HEAD, text))
