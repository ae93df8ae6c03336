"""Store rows to API schemas (the controller's border between model families)."""
from __future__ import annotations

from sqlalchemy import Connection

from heaven.core import queue
from heaven.core.states import JobState
from heaven.store import jobs as job_rows
from heaven.store import nodes as node_rows
from heaven.store.snapshot import to_core_job
from heaven.wire.api import JobOut, NodeOut


def local_of(node: dict | None, cores: list[int]) -> list[int]:
    if node is None:
        return []
    return [node["local_cores"][c - node["core_offset"]] for c in cores]


def jobs_out(conn: Connection, rows: list[dict], positions: bool = True) -> list[JobOut]:
    """``positions``: compute queue positions (reads the whole queue; a submit answer skips it)."""
    claims = job_rows.claims_by_node(conn, [r["id"] for r in rows if r["state"] == JobState.RUNNING.value])
    node_by_name = {n["name"]: n for n in node_rows.listing(conn)} if claims else {}
    wanted = positions and any(r["state"] == JobState.PENDING.value for r in rows)
    positions = queue_positions(conn) if wanted else {}
    out = []
    for r in rows:
        parts = claims.get(r["id"], {})
        cores = sorted(c for held in parts.values() for c in held)
        local = [c for name, held in parts.items() for c in local_of(node_by_name.get(name), held)]
        out.append(job_out(r, cores, local, positions.get(r["id"]), sorted(parts)))
    return out


def job_out(r: dict, cores: list[int] = (), local_cores: list[int] = (), position: int | None = None,
            placed_on: list[str] = ()) -> JobOut:
    """One job row as the API shows it (a new pending job needs nothing more than its row)."""
    return JobOut(
        id=r["id"], name=r["name"], kind=r["kind"], state=r["state"], reason=r["reason"],
        queue_position=position, command=r["command"], cores_requested=r["cores"],
        min_cores=r["min_cores"], memory_mb=r["memory_mb"], storage_mb=r["storage_mb"], gpus=r["gpus"],
        priority=r["priority"], node=r["node"], cores=list(cores), local_cores=list(local_cores),
        gpu_ids=r["gpu_ids"] or [], pid=r["pid"], pids=r["pids"] or [], cpu_percent=r["cpu_percent"],
        rss_mb=r["rss_mb"], exit_code=r["exit_code"], walltime=r["walltime"],
        depends_on=r["depends_on"] or [], cluster=r["cluster"], nodes=r["nodes"], placed_on=list(placed_on),
        submitted_at=r["submitted_at"],
        started_at=r["started_at"], finished_at=r["finished_at"], runs=r["runs"],
    )


def queue_positions(conn: Connection) -> dict[int, int]:
    """1-based position of every pending job, in the order the scheduler looks at them."""
    rows = job_rows.pending_rows(conn)
    ordered = queue.order([to_core_job(r) for r in rows], "priority")
    return {j.id: i for i, j in enumerate(ordered, start=1)}


def nodes_out(conn: Connection) -> list[NodeOut]:
    rows = node_rows.listing(conn)
    held = job_rows.held_per_node(conn)
    return [NodeOut(
        name=n["name"], kind=n["kind"], state=n["state"], endpoint=n["endpoint"], cluster=n["cluster"],
        core_offset=n["core_offset"], local_cores=n["local_cores"], reserved=n["reserved"] or [],
        total_cores=len(n["local_cores"]),
        free_cores=len([c for c in n["local_cores"] if c not in (n["reserved"] or [])]) - held.get(n["name"], 0),
        memory_mb=n["memory_mb"], storage_mb=n["storage_mb"], gpus=n["gpus"], last_heartbeat=n["last_heartbeat"],
        telemetry=n["telemetry"] or {},
    ) for n in rows]
