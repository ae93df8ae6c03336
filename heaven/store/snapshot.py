"""Reading the store into the core's immutable Snapshot (the only converter that way)."""
from __future__ import annotations

from sqlalchemy import Connection, select

from heaven.core import Allocation, Job, Node, Snapshot
from heaven.core.states import ACTIVE_JOB_STATES, JobState, NodeState
from heaven.store.tables import core_claims, jobs, nodes


def to_core_node(row) -> Node:
    return Node(
        name=row.name, core_offset=row.core_offset, local_cores=tuple(row.local_cores),
        memory_mb=row.memory_mb, storage_mb=row.storage_mb, gpus=row.gpus,
        reserved=frozenset(row.reserved or ()), state=NodeState(row.state), cluster=row.cluster,
    )


def to_core_job(row) -> Job:
    return Job(
        id=row.id, cores=row.cores, min_cores=row.min_cores, memory_mb=row.memory_mb,
        storage_mb=row.storage_mb, gpus=row.gpus, priority=row.priority, submitted_at=row.submitted_at,
        node=row.node_pin, walltime=row.walltime, state=JobState(row.state), name=row.name, cluster=row.cluster,
    )


def load_snapshot(conn: Connection) -> Snapshot:
    node_rows = conn.execute(select(nodes)).all()
    job_rows = conn.execute(
        select(jobs).where(jobs.c.state.in_([s.value for s in ACTIVE_JOB_STATES])).order_by(jobs.c.id)
    ).all()
    held: dict[int, list[int]] = {}
    for job_id, core in conn.execute(select(core_claims.c.job_id, core_claims.c.core).order_by(core_claims.c.core)):
        held.setdefault(job_id, []).append(core)
    allocations = []
    for row in job_rows:
        if row.state == JobState.RUNNING.value:
            used = None if row.cpu_percent is None else row.cpu_percent / 100.0
            allocations.append(Allocation(
                row.id, row.node, tuple(held.get(row.id, ())), row.memory_mb, row.storage_mb,
                tuple(row.gpu_ids or ()), row.started_at or 0.0, used,
            ))
    return Snapshot(
        tuple(to_core_node(r) for r in node_rows),
        tuple(to_core_job(r) for r in job_rows),
        tuple(allocations),
    )
