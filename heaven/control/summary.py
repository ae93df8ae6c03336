"""The original ``GET /summary`` document, built from the store.

Only running jobs (whose process exists and is pinned) show as allocations, as
the original controller recorded an allocation only once its agent confirmed
it; jobs placed but not yet started are listed under the extra key ``assigned``.
The pending list is in the scheduler's own queue order.
"""
from __future__ import annotations

from sqlalchemy import Connection, select

from heaven.core.states import JobState
from heaven.store import jobs as job_rows
from heaven.store import nodes as node_rows
from heaven.store.tables import core_claims, jobs


def collect(conn: Connection) -> dict:
    node_list = node_rows.listing(conn)
    agents = {n["name"]: {"total_cores": len(n["local_cores"]), "offset": n["core_offset"], "endpoint": n["endpoint"],
                          "state": n["state"], "kind": n["kind"]} for n in node_list}
    core_map: dict[str, list | None] = {}
    for n in node_list:
        for i in range(len(n["local_cores"])):
            core_map[str(n["core_offset"] + i)] = None
    holding = {r.id: r for r in conn.execute(select(jobs).where(jobs.c.state.in_(job_rows.HOLDING_STATE_VALUES)))}
    held: dict[int, list[int]] = {}
    for core, job_id in conn.execute(select(core_claims.c.core, core_claims.c.job_id).order_by(core_claims.c.core)):
        held.setdefault(job_id, []).append(core)
    allocations: dict[str, list[int]] = {}
    assigned: list[dict] = []
    live_jobs: dict[str, list[dict]] = {n["name"]: [] for n in node_list}
    for job_id, cores in held.items():
        job = holding[job_id]
        # Jobs of the original protocol are known by their own name; ours by id.
        label = job.name if job.kind == "adopted" else str(job_id)
        if job.state != JobState.RUNNING.value:
            assigned.append({"vm": job.node, "job": label, "id": job_id, "cores": cores})
            continue
        for core in cores:
            core_map[str(core)] = [job.node, label]
        allocations[f"{job.node}|{label}"] = cores
        live_jobs.setdefault(job.node, []).append({"job": label, "pid": job.pid, "cores": cores, "id": job_id,
                                                   "cpu_percent": job.cpu_percent or 0.0, "pids": job.pids or []})
    pending = [{"vm": r.node_pin, "job": r.name if r.kind == "adopted" else r.id, "pid": r.pid, "need": r.cores,
                "ts": r.submitted_at, "id": r.id, "reason": r.reason, "position": r.queue_position}
               for r in job_rows.pending_rows(conn)]
    return {"agents": agents, "core_map": core_map, "allocations": allocations, "pending": pending,
            "assigned": assigned, "live_jobs": live_jobs}
