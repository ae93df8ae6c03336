"""Deployment rows: jobs of kind ``service``, as the deployment APIs read and write them.

A deployment is inserted held (created, not started); ``release`` starts it, which only
makes it visible to the scheduler (see snapshot.schedulable). Its states move through
``jobs.transition`` like any job's. Nothing here commits: the caller owns the transaction.
"""
from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from heaven.core.states import JobState
from heaven.store import events
from heaven.store import jobs as job_rows
from heaven.store.tables import clusters, jobs

KIND = "service"


def get(conn: Connection, job_id: int) -> dict | None:
    """The deployment, or None when there is none (a batch job with that id is not one)."""
    row = conn.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.kind == KIND)).first()
    return dict(row._mapping) if row else None


def by_ids(conn: Connection, ids: list[int]) -> dict[int, dict]:
    if not ids:
        return {}
    return {r.id: dict(r._mapping) for r in conn.execute(select(jobs).where(jobs.c.id.in_(ids), jobs.c.kind == KIND))}


def listing(conn: Connection, org_ids: list[int], limit: int = 1000, before: int | None = None) -> list[dict]:
    """The deployments of these organizations, newest first (``before``: with a smaller id only)."""
    query = select(jobs).where(jobs.c.kind == KIND, jobs.c.org_id.in_(org_ids)).order_by(jobs.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(jobs.c.id < before)
    return [dict(r._mapping) for r in conn.execute(query)]


def dependency_ids(row: dict) -> list[int]:
    return [d["job"] for d in row["depends_on"] or []]


def dependents(conn: Connection, row: dict) -> list[dict]:
    """The deployments that name ``row`` as a dependency. Dependencies never leave a cluster,
    so only that cluster's deployments are read (the list is JSON: filtered here, portably)."""
    query = select(jobs).where(jobs.c.kind == KIND, jobs.c.org_id == row["org_id"], jobs.c.cluster == row["cluster"],
                               jobs.c.id != row["id"]).order_by(jobs.c.id)
    return [dict(r._mapping) for r in conn.execute(query) if row["id"] in dependency_ids(dict(r._mapping))]


def release(conn: Connection, job_id: int, now: float, actor: str) -> bool:
    """Held -> started: the scheduler may see it from now on. One conditional UPDATE, so
    two concurrent starts cannot both succeed; one ``release`` event."""
    result = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.held.is_(True),
                                             jobs.c.state == JobState.PENDING.value)
                          .values(held=False, released_at=now, reason="started; waiting for the scheduler"))
    if result.rowcount != 1:
        return False
    org_id = conn.execute(select(jobs.c.org_id).where(jobs.c.id == job_id)).scalar()
    events.record(conn, now, "release", "deployment started", actor=actor, job=job_id, org_id=org_id)
    return True


def change(conn: Connection, job_id: int, values: dict, now: float, actor: str) -> bool:
    """Rewrite a held deployment's request; False when it was started (or ended) meanwhile."""
    result = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.held.is_(True),
                                             jobs.c.state == JobState.PENDING.value).values(**values))
    if result.rowcount != 1:
        return False
    org_id = conn.execute(select(jobs.c.org_id).where(jobs.c.id == job_id)).scalar()
    events.record(conn, now, "update", ", ".join(f"{k}={v}" for k, v in sorted(values.items())), actor=actor,
                  job=job_id, org_id=org_id)
    return True


def remove(conn: Connection, row: dict, now: float, actor: str) -> None:
    """Delete the row; its events stay (the log is history). The caller freed its cores first."""
    conn.execute(delete(jobs).where(jobs.c.id == row["id"]))
    events.record(conn, now, "delete", f"deployment {row['name']} deleted", actor=actor, job=row["id"],
                  org_id=row["org_id"])


def cluster_by_id(conn: Connection, cluster_id: int) -> dict | None:
    row = conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
    return dict(row._mapping) if row else None


def cluster_ids(conn: Connection, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """(organization, cluster name) -> the cluster's id, for the rows that exist."""
    if not keys:
        return {}
    orgs = {org for org, _ in keys}
    rows = conn.execute(select(clusters.c.id, clusters.c.org_id, clusters.c.name).where(clusters.c.org_id.in_(orgs)))
    return {(r.org_id, r.name): r.id for r in rows if (r.org_id, r.name) in keys}
