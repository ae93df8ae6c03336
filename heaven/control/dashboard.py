"""What the dashboard shows, read from the store in one transaction, scoped to the
viewer's organizations: another organization's nodes, cores, jobs and events are
left out entirely (not greyed out), so the page cannot tell that they exist.

The shape is the dashboard's own (``heaven/web/static/dashboard.js`` draws it);
``GET /summary`` keeps the original dashboard's shape for its readers.
"""
from __future__ import annotations

from sqlalchemy import Connection, func, select

from heaven.core.states import JobState
from heaven.store import events as event_rows
from heaven.store.jobs import HOLDING_STATE_VALUES
from heaven.store.tables import core_claims, jobs, nodes, organizations, people

ACTIVITY = 60  # newest events shown
QUEUE = 200  # pending jobs shown (the queue's head; the count says how many wait)


# Only what the view shows: the JSON columns it does not need (command, dependencies, gang
# exits) would cost most of a view's time to decode at hundreds of jobs.
_JOB_FIELDS = (jobs.c.id, jobs.c.name, jobs.c.state, jobs.c.owner_id, jobs.c.org_id, jobs.c.cores, jobs.c.node,
               jobs.c.memory_mb, jobs.c.cpu_percent, jobs.c.rss_mb, jobs.c.pids, jobs.c.usage, jobs.c.reason,
               jobs.c.queue_position, jobs.c.priority)


def collect(conn: Connection, org_ids: list[int], now: float) -> dict:
    org_names = dict(conn.execute(select(organizations.c.id, organizations.c.name)
                                  .where(organizations.c.id.in_(org_ids))).all())
    node_rows = [dict(r._mapping) for r in conn.execute(
        select(nodes).where(nodes.c.org_id.in_(org_ids)).order_by(nodes.c.core_offset))]
    names = [n["name"] for n in node_rows]
    claims = conn.execute(select(core_claims).where(core_claims.c.node.in_(names))
                          .order_by(core_claims.c.core)).all() if names else []
    usernames = dict(conn.execute(select(people.c.id, people.c.username)).all())
    holding = {r.id: r for r in conn.execute(select(*_JOB_FIELDS).where(jobs.c.org_id.in_(org_ids),
                                                                        jobs.c.state.in_(HOLDING_STATE_VALUES)))}
    held: dict[int, list[int]] = {}
    for claim in claims:
        held.setdefault(claim.job_id, []).append(claim.core)
    owner_of = {claim.core: (claim.job_id, claim.lent_by) for claim in claims}
    cores = []
    for n in node_rows:
        per_core = _per_core(n)
        for i, local in enumerate(n["local_cores"]):
            index = n["core_offset"] + i
            job_id, lent_by = owner_of.get(index, (None, None))
            cores.append({"index": index, "node": n["name"], "local": local, "job": job_id, "lent_by": lent_by,
                          "reserved": local in (n["reserved"] or []), "cpu": per_core.get(local)})
    allocated: dict[str, int] = {}
    for claim in claims:
        allocated[claim.node] = allocated.get(claim.node, 0) + 1
    jobs_on: dict[str, list] = {}
    for r in holding.values():
        jobs_on.setdefault(r.node, []).append(r)
    running = [_job(r, usernames, org_names, len(held.get(r.id, []))) for r in holding.values()]
    running.sort(key=lambda j: j["id"])
    pending_query = select(*_JOB_FIELDS).where(jobs.c.org_id.in_(org_ids), jobs.c.state == JobState.PENDING.value)
    waiting = conn.execute(select(func.count()).where(jobs.c.org_id.in_(org_ids),
                                                      jobs.c.state == JobState.PENDING.value)).scalar_one()
    pending = [_job(r, usernames, org_names, 0) for r in conn.execute(
        pending_query.order_by(jobs.c.queue_position.is_(None), jobs.c.queue_position, jobs.c.id).limit(QUEUE))]
    return {
        "now": now,
        "organizations": [{"id": i, "name": org_names[i]} for i in sorted(org_names)],
        "nodes": [_node(n, allocated.get(n["name"], 0), jobs_on.get(n["name"], [])) for n in node_rows],
        "cores": cores,
        "running": running,
        "pending": pending,
        "pending_count": waiting,
        "totals": _totals(running, claims),
        "activity": [_event(e) for e in event_rows.since(conn, 0, ACTIVITY, newest_first=True, org_ids=org_ids)],
    }


def _job(r, usernames: dict, org_names: dict, held: int) -> dict:
    return {"id": r.id, "name": r.name, "state": r.state, "owner": usernames.get(r.owner_id),
            "org": org_names.get(r.org_id), "requested": r.cores, "held": held, "node": r.node,
            "cpu_percent": r.cpu_percent, "rss_mb": r.rss_mb, "pids": r.pids or [], "usage": (r.usage or [])[-30:],
            "reason": r.reason, "queue_position": r.queue_position, "priority": r.priority}


def _node(n: dict, allocated: int, on_node: list) -> dict:
    per_core = _per_core(n)
    return {"name": n["name"], "cluster": n["cluster"], "state": n["state"], "cores": len(n["local_cores"]),
            "allocated": allocated, "used": round(sum((j.cpu_percent or 0.0) for j in on_node) / 100.0, 2),
            "memory_mb": n["memory_mb"], "memory_allocated_mb": sum(j.memory_mb for j in on_node),
            "cpu_percent": round(sum(per_core.values()), 1) if per_core else None,
            "last_heartbeat": n["last_heartbeat"]}


def _per_core(n: dict) -> dict[int, float]:
    """Busy % of the node's own cores only. An agent samples the whole machine, and two
    agents of one machine (heaven up) would otherwise both show its total as their own."""
    sampled = (n["telemetry"] or {}).get("per_core") or []
    return {c: sampled[c] for c in n["local_cores"] if c < len(sampled)}


def _totals(running: list[dict], claims) -> dict:
    return {"requested": sum(j["requested"] for j in running), "allocated": len(claims),
            "used": round(sum((j["cpu_percent"] or 0.0) for j in running) / 100.0, 2),
            "lent": sum(1 for c in claims if c.lent_by is not None)}


def _event(e: dict) -> dict:
    return {"seq": e["seq"], "ts": e["ts"], "action": e["action"], "detail": e["detail"], "job": e["job"],
            "node": e["node"], "actor": e["actor"]}
