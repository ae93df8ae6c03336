"""The single write port: apply a plan in the caller's transaction.

The plan is re-verified against a snapshot read inside the same transaction
(which holds the write lock), so a job cancelled or a node lost since the plan
was made is simply skipped: a partial commit, as Nomad's plan applier does.
The ``core_claims`` primary key is the last line of defence against double-booking.
A plan made by a deposed leader (a stale fencing epoch, heaven.store.leadership) is
refused whole. Order: evictions, suspensions and cancellations, shrinks, resumes, placements,
grows (each may use what the previous freed). Every change writes its event.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update

from heaven.core.plan import Plan
from heaven.core.snapshot import Snapshot
from heaven.core.states import JobState
from heaven.core.verify import Verified, verify
from heaven.store import events
from heaven.store import jobs as job_rows
from heaven.store.leadership import check_fence
from heaven.store.snapshot import load_snapshot
from heaven.store.tables import core_claims, jobs

# Any constant works: every transaction that changes the core map takes it.
CORE_MAP_LOCK = 0x48505548


@dataclass
class Applied:
    done: Verified = field(default_factory=Verified)

    @property
    def placed(self):
        return self.done.placements

    @property
    def rejected(self):
        return self.done.rejected

    @property
    def nodes(self) -> set[str]:
        """Nodes whose assignments changed: their agents must hear of it."""
        d = self.done
        return {x.node for part in (d.placements, d.shrinks, d.grows, d.preemptions, d.suspensions, d.resumes)
                for x in part}


def lock_core_map(conn: Connection) -> None:
    """Serialize writers of the core map. SQLite already holds its write lock
    (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CORE_MAP_LOCK})


def apply_plan(conn: Connection, plan: Plan, now: float, actor: str = "scheduler",
               snapshot: Snapshot | None = None, positions: bool = False) -> Applied:
    """``snapshot``: one the caller read in this same transaction, after taking the
    core-map lock (nothing can have changed since); otherwise it is read afresh.
    ``positions``: the plan's queue positions are those of the whole queue (not of
    a subset), so they become what every reader shows.
    A fenced plan (``plan.fence``) of a deposed leader raises StaleEpoch before anything
    is written, and the caller's transaction rolls back."""
    lock_core_map(conn)
    if plan.fence is not None:
        check_fence(conn, plan.fence)
    done = verify(snapshot if snapshot is not None else load_snapshot(conn), plan)
    for p in done.preemptions:
        job_rows.requeue_or_end(conn, p.job_id, JobState.PREEMPTED, now, p.reason, actor)
    for p in done.suspensions:
        job_rows.suspend(conn, p.job_id, p.node, now, p.reason, actor)
    for c in done.cancellations:
        job_rows.transition(conn, c.job_id, JobState.PENDING, JobState.CANCELLED, now, detail=c.reason, actor=actor,
                            reason=c.reason)
    holding = _still_holding(conn, {x.job_id for x in (*done.shrinks, *done.grows)})
    for s in done.shrinks:
        if s.job_id not in holding:
            continue  # ended since the snapshot (an agent's report takes no core-map lock)
        conn.execute(delete(core_claims).where(core_claims.c.job_id == s.job_id, core_claims.c.core.in_(s.cores_removed)))
        _resized(conn, s.job_id, s.node, now, "shrink", f"gave up cores {list(s.cores_removed)}", actor)
    for r in done.resumes:
        moved = job_rows.resume(conn, r.job_id, r.node, list(r.cores), list(r.gpu_ids), now, actor)
        assert moved, f"verified job {r.job_id} was not suspended"  # the lock makes this impossible
    started: set[int] = set()
    for place in done.placements:
        donors = dict(place.lent)
        conn.execute(insert(core_claims), [{"core": c, "job_id": place.job_id, "node": place.node,
                                            "lent_by": donors.get(c)} for c in place.cores])
        if place.job_id in started:
            continue  # a further part of a gang: its start was the first part's
        started.add(place.job_id)
        gang = [p for p in done.placements if p.job_id == place.job_id]
        detail = f"on {place.node} cores {list(place.cores)}" if len(gang) == 1 else \
            "gang on " + ", ".join(f"{p.node} cores {list(p.cores)}" for p in gang)
        if donors:
            detail += f" ({len(donors)} taken from idle jobs {sorted(set(donors.values()))})"
        # Assigned, not running: walltime and usage count from the agent's report of a live process.
        moved = job_rows.transition(
            conn, place.job_id, JobState.PENDING, JobState.ASSIGNED, now, detail=detail, actor=actor, node=place.node,
            assigned_at=now, started_at=None, gpu_ids=list(place.gpu_ids), reason="", exit_code=None, finished_at=None,
            cpu_percent=None, rss_mb=None, usage=[], resized_at=None, part_exits={}, runs=jobs.c.runs + 1,
            queue_position=None,
        )
        assert moved, f"verified job {place.job_id} was not pending"  # the lock makes this impossible
    for g in done.grows:
        if g.job_id not in holding:
            continue  # a claim for an ended job would be held by no one, and fail every later cycle
        conn.execute(insert(core_claims), [{"core": c, "job_id": g.job_id, "node": g.node} for c in g.cores_added])
        _resized(conn, g.job_id, g.node, now, "grow", f"got back cores {list(g.cores_added)}", actor)
    _store_reasons(conn, plan, now, actor)
    if positions:
        _store_positions(conn, plan, {p.job_id for p in done.placements}, done.cancellations)
    return Applied(done)


def _still_holding(conn: Connection, job_ids: set[int]) -> set[int]:
    """Which of these jobs still hold cores, their rows locked (FOR SHARE) until this plan
    commits: an exit reported meanwhile waits, then frees what this plan gave too."""
    if not job_ids:
        return set()
    return set(conn.execute(select(jobs.c.id).where(jobs.c.id.in_(sorted(job_ids)),
                                                    jobs.c.state.in_(job_rows.HOLDING_STATE_VALUES))
                            .with_for_update(read=True)).scalars())


def _resized(conn: Connection, job_id: int, node: str, now: float, action: str, detail: str, actor: str) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(resized_at=now))
    events.record(conn, now, action, detail, actor=actor, job=job_id, node=node)


def _store_positions(conn: Connection, plan: Plan, placed: set[int], cancelled: list) -> None:
    """The scheduler's own queue positions, written where they changed: the one authority
    for queue order that the API, the CLI and /summary all read. Placed jobs left the queue."""
    gone = placed | {c.job_id for c in cancelled}
    remaining = sorted((pos, job_id) for job_id, pos in plan.positions.items() if job_id not in gone)
    shown = {job_id: i for i, (_, job_id) in enumerate(remaining, start=1)}  # the queue after this cycle
    if not shown:
        return
    current = dict(conn.execute(select(jobs.c.id, jobs.c.queue_position).where(
        jobs.c.state == JobState.PENDING.value, jobs.c.id.in_(list(shown)))).all())
    rows = [{"jid": job_id, "pos": pos} for job_id, pos in shown.items()
            if job_id in current and current[job_id] != pos]
    if rows:
        conn.execute(update(jobs).where(jobs.c.id == bindparam("jid")).values(queue_position=bindparam("pos")), rows)


def _store_reasons(conn: Connection, plan: Plan, now: float, actor: str) -> None:
    """Keep each waiting job's reason; a reason that changes is recorded as a ``wait`` event
    (not a transition: the job stays pending), so the log tells why a job waited when."""
    if not plan.waiting:
        return
    current = dict(conn.execute(select(jobs.c.id, jobs.c.reason).where(
        jobs.c.state == JobState.PENDING.value, jobs.c.id.in_(list(plan.waiting)))).all())
    rows = [{"jid": job_id, "why": str(reason)} for job_id, reason in plan.waiting.items()
            if job_id in current and current[job_id] != str(reason)]
    if rows:
        conn.execute(update(jobs).where(jobs.c.id == bindparam("jid")).values(reason=bindparam("why")), rows)
        events.record_many(conn, [{"ts": now, "action": "wait", "detail": r["why"], "actor": actor, "job": r["jid"],
                                   "node": None, "org_id": None} for r in rows])
