"""Store rows to API schemas (the controller's border between model families)."""
from __future__ import annotations

from sqlalchemy import Connection

from heaven.core.states import JobState
from heaven.store import jobs as job_rows
from heaven.store import nodes as node_rows
from heaven.wire.api import JobOut, NodeOut


def local_of(node: dict | None, cores: list[int]) -> list[int]:
    if node is None:
        return []
    return [node["local_cores"][c - node["core_offset"]] for c in cores]


def jobs_out(conn: Connection, rows: list[dict]) -> list[JobOut]:
    claims = job_rows.claims_by_node(conn, [r["id"] for r in rows if r["state"] in job_rows.HOLDING_STATE_VALUES])
    node_by_name = {n["name"]: n for n in node_rows.listing(conn)} if claims else {}
    out = []
    for r in rows:
        parts = claims.get(r["id"], {})
        cores = sorted(c for held in parts.values() for c in held)
        local = [c for name, held in parts.items() for c in local_of(node_by_name.get(name), held)]
        out.append(job_out(r, cores, local, sorted(parts)))
    return out


def job_out(r: dict, cores: list[int] = (), local_cores: list[int] = (), placed_on: list[str] = ()) -> JobOut:
    """One job row as the API shows it (a new pending job needs nothing more than its row).
    The queue position is the scheduler's own (stored by its last look at the queue head)."""
    return JobOut(
        id=r["id"], org_id=r["org_id"], owner_id=r["owner_id"], name=r["name"], kind=r["kind"], state=r["state"], reason=r["reason"],
        queue_position=r["queue_position"] if r["state"] == JobState.PENDING.value else None,
        command=r["command"], docker_image=r.get("docker_image"), cores_requested=r["cores"],
        min_cores=r["min_cores"], memory_mb=r["memory_mb"], storage_mb=r["storage_mb"], gpus=r["gpus"],
        priority=r["priority"], node=r["node"], cores=list(cores), local_cores=list(local_cores),
        gpu_ids=r["gpu_ids"] or [], pid=r["pid"], pids=r["pids"] or [], cpu_percent=r["cpu_percent"],
        rss_mb=r["rss_mb"], exit_code=r["exit_code"], walltime=r["walltime"],
        retry_memory=r.get("retry_memory"),
        depends_on=r["depends_on"] or [], cluster=r["cluster"], nodes=r["nodes"], placed_on=list(placed_on),
        submitted_at=r["submitted_at"],
        started_at=r["started_at"], finished_at=r["finished_at"], runs=r["runs"],
    )


def nodes_out(conn: Connection, org_ids: list[int] | None = None) -> list[NodeOut]:
    """``org_ids``: only the nodes of these organizations (None: every node)."""
    rows = [n for n in node_rows.listing(conn) if org_ids is None or n["org_id"] in org_ids]
    held = job_rows.held_per_node(conn)
    return [NodeOut(
        name=n["name"], kind=n["kind"], state=n["state"], endpoint=n["endpoint"], cluster=n["cluster"],
        core_offset=n["core_offset"], local_cores=n["local_cores"], reserved=n["reserved"] or [],
        total_cores=len(n["local_cores"]),
        free_cores=len([c for c in n["local_cores"] if c not in (n["reserved"] or [])]) - held.get(n["name"], 0),
        memory_mb=n["memory_mb"], storage_mb=n["storage_mb"], gpus=n["gpus"], last_heartbeat=n["last_heartbeat"],
        telemetry=n["telemetry"] or {},
    ) for n in rows]
