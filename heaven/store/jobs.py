"""Job rows: insert, read, and the one function that moves a job between states.

``transition`` is a single conditional UPDATE (``WHERE state = old``) plus one
event: if another request moved the job first, nothing happens and it returns
False. That is why completing a job twice is harmless.
"""
from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select, update

from heaven.core.states import HOLDING_JOB_STATES, JobState, check_job_transition, crash_backoff
from heaven.store import events
from heaven.store.tables import core_claims, jobs
from heaven.store.tables import events as event_log

EVENT_ACTION = {
    JobState.ASSIGNED: "assign",
    JobState.RUNNING: "start",
    JobState.SUCCEEDED: "succeed",
    JobState.FAILED: "fail",
    JobState.CANCELLED: "cancel",
    JobState.PREEMPTED: "preempt",
    JobState.LOST: "lose",
    JobState.PENDING: "requeue",
    JobState.SUSPENDED: "suspend",
}


_INSERT_JOB = insert(jobs)
HOLDING_STATE_VALUES = frozenset(s.value for s in HOLDING_JOB_STATES)
# A job whose process lives on its node: holding cores, or suspended there (frozen, no cores).
ON_NODE_STATE_VALUES = HOLDING_STATE_VALUES | {JobState.SUSPENDED.value}


def insert_job(conn: Connection, values: dict, now: float, actor: str = "api") -> int:
    return insert_job_row(conn, values, now, actor)["id"]


def insert_job_row(conn: Connection, values: dict, now: float, actor: str = "api") -> dict:
    """Insert a pending job and its ``submit`` event; returns the whole new row."""
    row = {column.name: None for column in jobs.columns}
    row.update({"state": JobState.PENDING.value, "reason": "", "gpu_ids": [], "pids": [], "runs": 0, "usage": [],
                "depends_on": [], "nodes": 1, "part_exits": {}, "held": False, "restarts": 0, "submitted_at": now,
                **values})
    del row["id"]
    # Values as parameters of one cached statement: building a statement with the
    # values in it costs more than the insert itself.
    row["id"] = conn.execute(_INSERT_JOB, row).inserted_primary_key[0]
    events.record(conn, now, "submit", f"{row['name']}: cores={row['cores']} priority={row['priority']}",
                  actor=actor, job=row["id"], node=row.get("node_pin"), org_id=row["org_id"])
    return row


def get(conn: Connection, job_id: int) -> dict | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return dict(row._mapping) if row else None


def find_adopted(conn: Connection, node: str, name: str) -> dict | None:
    """The newest job a self-pinning program registered as (node, name)."""
    row = conn.execute(
        select(jobs).where(jobs.c.node_pin == node, jobs.c.name == name).order_by(jobs.c.id.desc()).limit(1)
    ).first()
    return dict(row._mapping) if row else None


def listing(conn: Connection, states: list[str] | None = None, limit: int = 200, node: str | None = None,
            org_ids: list[int] | None = None, before: int | None = None) -> list[dict]:
    """Newest first; ``org_ids``: only jobs of these organizations (None: all of them);
    ``before``: only jobs with a smaller id (the next page after that one)."""
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(jobs.c.id < before)
    if org_ids is not None:
        query = query.where(jobs.c.org_id.in_(org_ids))
    if states:
        query = query.where(jobs.c.state.in_(states))
    if node:
        query = query.where(jobs.c.node == node)
    return [dict(r._mapping) for r in conn.execute(query)]


def claims_of(conn: Connection, job_ids: list[int]) -> dict[int, list[int]]:
    """Global cores held per job."""
    return {job_id: [c for cores in parts.values() for c in cores] for job_id, parts in claims_by_node(conn, job_ids).items()}


def claims_by_node(conn: Connection, job_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """Global cores held per job and node (a gang holds cores on several nodes)."""
    out: dict[int, dict[str, list[int]]] = {j: {} for j in job_ids}
    if job_ids:
        rows = conn.execute(select(core_claims.c.job_id, core_claims.c.node, core_claims.c.core)
                            .where(core_claims.c.job_id.in_(job_ids)).order_by(core_claims.c.core))
        for job_id, node, core in rows:
            out[job_id].setdefault(node, []).append(core)
    return out


def transition(conn: Connection, job_id: int, old: JobState, new: JobState, now: float, *,
               detail: str = "", actor: str = "system", node: str | None = None, action: str | None = None,
               **fields) -> bool:
    """Move one job from ``old`` to ``new`` and write exactly one event (``action``: its name,
    when not the new state's own: a suspended job going back to running is a ``resume``).

    Leaving the states that hold cores frees them in the same transaction."""
    check_job_transition(old, new)
    values = {"state": new.value, **fields}
    if new == JobState.ASSIGNED:
        values["node"] = node  # where it runs: the event's node and the row's are one fact
    if new in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED) and "finished_at" not in values:
        values["finished_at"] = now
    result = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == old.value).values(**values))
    if result.rowcount != 1:
        return False
    if old in HOLDING_JOB_STATES and new not in HOLDING_JOB_STATES:
        conn.execute(delete(core_claims).where(core_claims.c.job_id == job_id))
    org_id = conn.execute(select(jobs.c.org_id).where(jobs.c.id == job_id)).scalar()
    events.record(conn, now, action or EVENT_ACTION[new], detail, actor=actor, job=job_id, node=node, org_id=org_id)
    return True


def mark_started(conn: Connection, job_id: int, now: float, actor: str, node: str, pid: int | None = None) -> bool:
    """Assigned -> running: a live process exists (walltime counts from now). Idempotent."""
    pids = [pid] if pid is not None else []
    return transition(conn, job_id, JobState.ASSIGNED, JobState.RUNNING, now, actor=actor, node=node,
                      detail=f"pid {pid}" if pid is not None else "", started_at=now, pid=pid, pids=pids)


def finish(conn: Connection, job_id: int, exit_code: int, now: float, actor: str, cause: str = "") -> bool:
    """A job's process ended: succeeded on 0, failed otherwise. Idempotent. ``cause``: why,
    when the agent knows more than the code (``out of memory``); it leads the event's detail.

    An exit of a job still ``assigned`` means its start was reported in the same
    breath (or lost): the process existed, so the job passes through running."""
    row = get(conn, job_id)
    if row is None or row["state"] not in ON_NODE_STATE_VALUES:
        return False
    if row["state"] == JobState.ASSIGNED.value:
        mark_started(conn, job_id, now, actor, row["node"], row["pid"])
    # A frozen process that ended was killed (or thawed to stop): it ends here, not restarted.
    was = JobState.SUSPENDED if row["state"] == JobState.SUSPENDED.value else JobState.RUNNING
    if row["kind"] == "service" and exit_code != 0 and was == JobState.RUNNING:
        return restart_after_crash(conn, row, exit_code, now, actor)
    # A service's clean exit is its completion (Kubernetes' restartPolicy OnFailure), so a
    # deployment that depends on it may start: "completed" means it ended well, once.
    new = JobState.SUCCEEDED if exit_code == 0 else JobState.FAILED
    detail = f"{cause} (exit code {exit_code})" if cause else f"exit code {exit_code}"
    return transition(conn, job_id, was, new, now, detail=detail,
                      actor=actor, node=row["node"], exit_code=exit_code)


def restart_after_crash(conn: Connection, row: dict, exit_code: int, now: float, actor: str) -> bool:
    """A service's process died: back to pending, out of the scheduler's sight until its back-off
    ends (``not_before``; see snapshot.py), one ``requeue`` event per restart with the reason."""
    delay = crash_backoff(row["restarts"])
    how = f"signal {-exit_code}" if exit_code < 0 else f"exit {exit_code}"
    reason = f"back-off {delay:g} s: restarting after {how}"
    return transition(conn, row["id"], JobState.RUNNING, JobState.PENDING, now, detail=reason, actor=actor,
                      node=row["node"], reason=reason, exit_code=exit_code, not_before=now + delay,
                      restarts=jobs.c.restarts + 1, pid=None, pids=[], gpu_ids=[], started_at=None)


def requeue_or_end(conn: Connection, job_id: int, via: JobState, now: float, detail: str, actor: str) -> None:
    """Assigned or running -> preempted/lost, then batch jobs go back to the queue (keeping
    their submit time) and services to pending, while adopted processes, which we cannot
    restart, end cancelled. A suspended job is lost the same way (it cannot be preempted twice)."""
    row = get(conn, job_id)
    if row is None or row["state"] not in ON_NODE_STATE_VALUES:
        return
    if row["state"] == JobState.SUSPENDED.value and via != JobState.LOST:
        return
    if not transition(conn, job_id, JobState(row["state"]), via, now, detail=detail, actor=actor, node=row["node"]):
        return
    if row["kind"] in ("batch", "service"):
        transition(conn, job_id, via, JobState.PENDING, now, detail="back to the queue", actor=actor,
                   node=row["node"], pid=None, pids=[], gpu_ids=[], started_at=None)
    else:
        transition(conn, job_id, via, JobState.CANCELLED, now, actor=actor, node=row["node"],
                   detail=f"{detail}; an adopted process is not restarted")


def held_per_node(conn: Connection) -> dict[str, int]:
    """How many cores are claimed on each node."""
    return dict(conn.execute(select(core_claims.c.node, func.count()).group_by(core_claims.c.node)).all())


def pending_rows(conn: Connection) -> list:
    """Pending jobs in queue order: the positions the scheduler wrote (see apply.py); jobs
    no cycle has placed in the queue yet come last, oldest first. A held deployment (created,
    not started) is in no queue."""
    return conn.execute(select(jobs).where(jobs.c.state == JobState.PENDING.value, jobs.c.held.is_(False))
                        .order_by(jobs.c.queue_position.is_(None), jobs.c.queue_position, jobs.c.id)).all()


def newest_id(conn: Connection) -> int:
    return conn.execute(select(func.max(jobs.c.id))).scalar() or 0


def nodes_of(conn: Connection, job_id: int) -> list[str]:
    """The nodes a job holds cores on (several for a gang)."""
    return sorted(set(conn.execute(select(core_claims.c.node).where(core_claims.c.job_id == job_id)).scalars()))


def finish_part(conn: Connection, job_id: int, node: str, exit_code: int, now: float, actor: str,
                cause: str = "") -> bool:
    """One part of a job holding cores ended on ``node``. A single-node job ends with it; a gang
    fails with its first failing part and succeeds when every part has succeeded."""
    row = get(conn, job_id)
    if row is None or row["state"] not in ON_NODE_STATE_VALUES:
        return False
    if row["nodes"] == 1 or exit_code != 0:
        return finish(conn, job_id, exit_code, now, actor, cause)
    exits = {**(row["part_exits"] or {}), node: exit_code}
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(part_exits=exits))
    if len(exits) < row["nodes"]:
        return False  # the other parts still run
    return finish(conn, job_id, 0, now, actor)


def suspend(conn: Connection, job_id: int, node: str, now: float, reason: str, actor: str) -> bool:
    """Running -> suspended: its cores are freed (its claims go), its process stays frozen on ``node``."""
    return transition(conn, job_id, JobState.RUNNING, JobState.SUSPENDED, now, detail=reason, actor=actor, node=node,
                      reason=reason)


def resume(conn: Connection, job_id: int, node: str, cores: list[int], gpu_ids: list[int], now: float,
           actor: str) -> bool:
    """Suspended -> running on the same node, claiming ``cores``. Suspended time does not count
    against the walltime (as in Slurm): ``started_at`` moves on by how long it was suspended."""
    since = conn.execute(select(func.max(event_log.c.ts)).where(
        event_log.c.job == job_id, event_log.c.action == "suspend")).scalar()
    paused = max(0.0, now - since) if since is not None else 0.0
    moved = transition(conn, job_id, JobState.SUSPENDED, JobState.RUNNING, now, action="resume", actor=actor,
                       node=node, detail=f"on {node} cores {cores}", reason="", gpu_ids=gpu_ids,
                       started_at=jobs.c.started_at + paused)
    if moved:
        conn.execute(insert(core_claims), [{"core": c, "job_id": job_id, "node": node} for c in cores])
    return moved


def set_fields(conn: Connection, job_id: int, **values) -> None:
    """Write columns of a job directly (imports and tests; states move through ``transition``)."""
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
