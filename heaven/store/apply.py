"""The single write port: apply a plan in the caller's transaction.

The plan is re-verified against a snapshot read inside the same transaction
(which holds the write lock), so a job cancelled or a node lost since the plan
was made is simply skipped: a partial commit, as Nomad's plan applier does.
The ``core_claims`` primary key is the last line of defence against double-booking.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, insert, text, update

from heaven.core.plan import Place, Plan
from heaven.core.states import JobState
from heaven.core.verify import verify
from heaven.store import jobs as job_rows
from heaven.store.snapshot import load_snapshot
from heaven.store.tables import core_claims, jobs

# Any constant works: every transaction that changes the core map takes it.
CORE_MAP_LOCK = 0x48505548


@dataclass
class Applied:
    placed: list[Place] = field(default_factory=list)
    rejected: list[tuple[Place, str]] = field(default_factory=list)

    @property
    def nodes(self) -> set[str]:
        return {p.node for p in self.placed}


def lock_core_map(conn: Connection) -> None:
    """Serialize writers of the core map. SQLite already holds its write lock
    (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CORE_MAP_LOCK})


def apply_plan(conn: Connection, plan: Plan, now: float, actor: str = "scheduler") -> Applied:
    lock_core_map(conn)
    fresh = load_snapshot(conn)
    accepted, rejected = verify(fresh, plan)
    result = Applied(rejected=rejected)
    runs = {j.id: j for j in fresh.jobs}
    for place in accepted:
        conn.execute(insert(core_claims), [{"core": c, "job_id": place.job_id, "node": place.node} for c in place.cores])
        moved = job_rows.transition(
            conn, place.job_id, JobState.PENDING, JobState.RUNNING, now,
            detail=f"on {place.node} cores {list(place.cores)}", actor=actor, node=place.node,
            started_at=now, gpu_ids=list(place.gpu_ids), reason="", exit_code=None, finished_at=None,
            cpu_percent=None, rss_mb=None, usage=[], resized_at=None, runs=jobs.c.runs + 1,
        )
        assert moved, f"verified job {place.job_id} was not pending"  # the lock makes this impossible
        result.placed.append(place)
    _store_reasons(conn, plan, {j for j in runs})
    return result


def _store_reasons(conn: Connection, plan: Plan, known: set[int]) -> None:
    rows = [{"jid": job_id, "why": str(reason)} for job_id, reason in plan.waiting.items() if job_id in known]
    if rows:
        conn.execute(
            update(jobs).where(jobs.c.id == bindparam("jid"), jobs.c.state == JobState.PENDING.value,
                               jobs.c.reason != bindparam("why")).values(reason=bindparam("why")),
            rows,
        )
