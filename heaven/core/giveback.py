"""Give-back: a job's request stays a guarantee.

A job that was shrunk (it holds fewer cores than it asked for) and now keeps
all it holds busy gets its cores back at once, whatever anyone's priority:
free cores on its node first, then the cores it lent, taken back from their
borrowers. A borrower keeps what it can above its ``min_cores``; one that
would fall below is evicted (requeued by the store).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from heaven.core.plan import Grow, Preempt, Shrink

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle

# A donor holding n cores is busy when its latest sample uses at least this share of them.
SATURATED = 0.85


def hungry(cycle: Cycle) -> list:
    """Shrunk jobs whose latest sample fills what they hold, highest priority first."""
    out = []
    for alloc in cycle.snapshot.allocations:
        job = cycle.jobs.get(alloc.job_id)
        held = len(alloc.cores)
        if job is None or held >= job.cores or alloc.recent_cores is None or job.nodes > 1:
            continue
        if alloc.recent_cores >= SATURATED * held:
            out.append((alloc, job))
    out.sort(key=lambda aj: (-aj[1].priority, aj[1].id))
    return out


def give_back(cycle: Cycle) -> None:
    for alloc, job in hungry(cycle):
        if alloc.job_id in cycle.touched:
            continue
        cap = cycle.caps[alloc.node]
        cluster, offset = cap.node.quota_key, cap.node.core_offset
        want = job.cores - len(alloc.cores)
        room = cycle.ledger.cores_left(cluster)
        added = sorted(cap.free)[:want if room is None else min(want, room)]  # free cores count against the quota
        cycle.take(cap, added)
        cycle.ledger.charge(cluster, len(added), 0, 0)
        want -= len(added)
        added = [offset + p for p in added]
        for borrower in _borrowers(cycle, alloc):
            if want == 0:
                break
            mine = sorted(c for c, donor in borrower.lent if donor == alloc.job_id)[:want]
            b_job = cycle.jobs.get(borrower.job_id)
            floor = max(b_job.min_cores if b_job else len(borrower.cores), cycle.config.min_cores)
            if len(borrower.cores) - len(mine) >= floor:
                cycle.plan.shrinks.append(Shrink(borrower.job_id, borrower.node, tuple(mine)))
                cycle.touched.add(borrower.job_id)
            else:
                cycle.release(borrower)
                cycle.plan.preemptions.append(Preempt(borrower.job_id, borrower.node,
                                                      f"job {job.id} took back the cores it lent"))
                cycle.take(cap, [c - offset for c in mine])
                cycle.ledger.charge(cluster, len(mine), 0, 0)  # release() gave back all the borrower held
            added.extend(mine)
            want -= len(mine)
        if added:
            cycle.plan.grows.append(Grow(job.id, alloc.node, tuple(sorted(added))))
            cycle.touched.add(job.id)


def _borrowers(cycle: Cycle, donor) -> list:
    out = [a for a in cycle.allocations_on(donor.node)
           if a.job_id not in cycle.touched and any(d == donor.job_id for _, d in a.lent)]
    # Take back from the lowest priority, most recently started borrower first.
    out.sort(key=lambda a: (cycle.jobs[a.job_id].priority if a.job_id in cycle.jobs else 0, -a.started_at))
    return out
