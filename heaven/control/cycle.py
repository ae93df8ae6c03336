"""One scheduling cycle against the store, and the node sweep (disconnected, then down).

Both are plain functions over a unit of work. Only the scheduler loop calls
them (see runtime.py): requests that want an answer now ask the loop.
"""
from __future__ import annotations

import random
from dataclasses import replace

from sqlalchemy import Connection, select

from heaven.core import Plan, SchedulerConfig, schedule
from heaven.core.model import Reservation
from heaven.core.states import JobState, NodeState
from heaven.store import jobs, nodes
from heaven.store.apply import Applied, apply_plan, lock_core_map
from heaven.store.snapshot import UsagePolicy, load_snapshot
from heaven.store.tables import core_claims
from heaven.store.tables import jobs as job_table
from heaven.store.tables import nodes as nodes_table


def run_cycle(conn: Connection, config: SchedulerConfig, now: float, rng: random.Random,
              usage: UsagePolicy = UsagePolicy(), reservation: Reservation | None = None,
              recommend_only: bool = False, pending_after: int | None = None,
              pending_limit: int | None = None, fence: int | None = None) -> tuple[Plan, Applied, list]:
    """One cycle. With ``recommend_only`` the steals the core proposes are
    returned (for the event log) but the plan applied is the one without stealing.
    ``pending_after`` limits the queue to jobs submitted since (see Controller.run);
    ``pending_limit`` to its head, read in the core's own order. ``fence``: the leader's
    epoch, stamped on the plan (apply_plan refuses it once another replica took over)."""
    lock_core_map(conn)
    half_life = config.fair_share.half_life if config.fair_share is not None else None
    snapshot = load_snapshot(conn, now, usage, reservation, pending_after, pending_limit, config.order, half_life)
    plan = schedule(snapshot, now, rng, config)
    recommended: list = []
    if recommend_only and (plan.shrinks or plan.grows):
        recommended = plan.shrinks + plan.grows
        plan = schedule(snapshot, now, rng, replace(config, steal=False))
    plan.fence = fence
    # Positions mean something only when the cycle saw the whole queue.
    applied = apply_plan(conn, plan, now, snapshot=snapshot, positions=pending_after is None and pending_limit is None)
    return plan, applied, recommended


def sweep_silent_nodes(conn: Connection, now: float, timeout: float) -> tuple[set[str], set[str]]:
    """Nodes silent for ``timeout`` seconds are marked disconnected: their jobs keep their
    cores, as their agent keeps them running for its disconnect grace. Once silent for the
    grace as well, they are marked down and the jobs holding cores there (assigned or
    running) are lost and requeued: by then their agent has stopped them, so no job runs
    twice. A node with no grace goes both steps in one sweep. Returns (disconnected, down)."""
    lock_core_map(conn)
    disconnected: set[str] = set()
    gone: set[str] = set()
    for row in nodes.silent_since(conn, now - timeout):
        name, state, grace = row["name"], NodeState(row["state"]), row["disconnect_grace"]
        if state != NodeState.DISCONNECTED:
            if not nodes.set_state(conn, name, state, NodeState.DISCONNECTED, now,
                                   f"no heartbeat for {timeout:g}s; its jobs keep running for its "
                                   f"disconnect grace of {grace:g}s", "controller"):
                continue
            disconnected.add(name)
        if row["last_heartbeat"] >= now - timeout - grace:
            continue
        if not nodes.set_state(conn, name, NodeState.DISCONNECTED, NodeState.DOWN, now,
                               f"no heartbeat for {timeout:g}s and its disconnect grace of {grace:g}s",
                               "controller"):
            continue
        gone.add(name)
        on_node = select(core_claims.c.job_id).where(core_claims.c.node == name)
        running = conn.execute(select(job_table.c.id).where(job_table.c.id.in_(on_node),
                                                            job_table.c.state.in_(jobs.HOLDING_STATE_VALUES))).scalars()
        frozen = conn.execute(select(job_table.c.id).where(job_table.c.node == name,  # suspended: no claims
                                                           job_table.c.state == JobState.SUSPENDED.value)).scalars()
        for job_id in [*running, *frozen]:
            jobs.requeue_or_end(conn, job_id, JobState.LOST, now, f"node {name} stopped heartbeating", "controller")
    return disconnected, gone


def requeue_unstarted(conn: Connection, now: float, timeout: float) -> set[str]:
    """Jobs placed ``timeout`` seconds ago whose agent never reported a process (it
    cannot start them, or an agent of the original design never pinned the PID): batch
    jobs go back to the queue, adopted PIDs end cancelled. Returns their nodes.
    A late start report names the old attempt (``run``) and is ignored.

    Only an agent that spoke after the deadline and still named no process is taken at
    its word: every node of the job (each part of a gang) must have heartbeated since
    ``assigned_at + timeout``. A node silent since then may have started the job and not
    been able to say so: the controller was down, or leaderless during a take-over, or
    the node is cut off. Requeueing it then could run it twice, so it waits for the node
    sweep, which requeues only after the node's disconnect grace."""
    lock_core_map(conn)
    query = select(job_table.c.id, job_table.c.node, job_table.c.assigned_at).where(
        job_table.c.state == JobState.ASSIGNED.value, job_table.c.assigned_at < now - timeout)
    nodes_touched: set[str] = set()
    for job_id, node, assigned_at in conn.execute(query).all():
        parts = set(conn.execute(select(core_claims.c.node).where(core_claims.c.job_id == job_id)).scalars())
        parts.add(node)
        heard = conn.execute(select(nodes_table.c.state, nodes_table.c.last_heartbeat)
                             .where(nodes_table.c.name.in_(parts))).all()
        if any(state == NodeState.DISCONNECTED.value or beat < assigned_at + timeout for state, beat in heard):
            continue
        jobs.requeue_or_end(conn, job_id, JobState.LOST, now, f"its agent did not start it within {timeout:g}s",
                            "controller")
        nodes_touched.add(node)
    return nodes_touched


def stop_overdue(conn: Connection, now: float) -> set[str]:
    """Jobs past their walltime end as failed (Slurm's TIMEOUT); their agents then
    stop them with SIGTERM and SIGKILL after the grace. Returns their nodes."""
    lock_core_map(conn)
    nodes_touched: set[str] = set()
    query = select(job_table.c.id, job_table.c.node, job_table.c.walltime, job_table.c.started_at).where(
        job_table.c.state == JobState.RUNNING.value, job_table.c.walltime.is_not(None))
    for job_id, node, walltime, started_at in conn.execute(query).all():
        if started_at is not None and now - started_at > walltime:
            if jobs.transition(conn, job_id, JobState.RUNNING, JobState.FAILED, now, actor="controller", node=node,
                               detail=f"walltime of {walltime:g}s exceeded", reason="walltime exceeded"):
                nodes_touched.add(node)
    return nodes_touched
