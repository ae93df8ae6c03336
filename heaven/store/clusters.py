"""Clusters of an organization and what they hold. Nothing here commits.

A cluster is named by its organization and its name (the name is unique within the
organization only). What it holds, for its quota's allocated and available
figures, is the one rule ``booked`` below: every API and the dashboard ask it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from heaven.core.states import ACTIVE_JOB_STATES, JobState
from heaven.store import events
from heaven.store.jobs import HOLDING_STATE_VALUES
from heaven.store.tables import clusters, core_claims, join_tokens, jobs, nodes

QUOTA = ("quota_cores", "quota_memory_mb", "quota_gpus")
# A job still wants its cluster while it is in one of these: deleting the cluster would strand it.
ACTIVE_STATES = tuple(sorted(s.value for s in ACTIVE_JOB_STATES))


@dataclass(frozen=True)
class Booked:
    cores: int = 0
    memory_mb: int = 0
    gpus: int = 0


def get(conn: Connection, org_id: int, name: str) -> dict | None:
    row = conn.execute(select(clusters).where(clusters.c.org_id == org_id, clusters.c.name == name)).first()
    return dict(row._mapping) if row else None


def by_id(conn: Connection, cluster_id: int) -> dict | None:
    row = conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
    return dict(row._mapping) if row else None


def of_orgs(conn: Connection, org_ids: list[int]) -> list[dict]:
    rows = conn.execute(select(clusters).where(clusters.c.org_id.in_(org_ids)).order_by(clusters.c.id))
    return [dict(r._mapping) for r in rows]


def exists(conn: Connection, org_id: int, name: str) -> bool:
    """A cluster of the organization: its row, or (databases from before rows were made on
    registration) a node of the organization that joined it."""
    if get(conn, org_id, name) is not None:
        return True
    return conn.execute(select(nodes.c.id).where(nodes.c.org_id == org_id, nodes.c.cluster == name)).first() is not None


def create(conn: Connection, org_id: int, name: str, quota: dict, creator_id: int | None, now: float,
           actor: str) -> int:
    cluster_id = conn.execute(insert(clusters).values(org_id=org_id, name=name, creator_id=creator_id, created_at=now,
                                                      **{k: quota.get(k) for k in QUOTA})).inserted_primary_key[0]
    events.record(conn, now, "cluster_create", f"cluster {cluster_id} ({name})", actor=actor, org_id=org_id)
    return cluster_id


def ensure(conn: Connection, org_id: int, name: str, now: float) -> None:
    """The cluster a node joins exists from then on (with no quota), so that it has an id
    to be shown, given a quota and refused deletion by."""
    if get(conn, org_id, name) is None:
        conn.execute(insert(clusters).values(org_id=org_id, name=name, created_at=now))


def update_cluster(conn: Connection, cluster_id: int, values: dict, now: float, actor: str) -> None:
    """``values``: the quota fields and the name to change (only those given). A new name
    goes to the cluster's join tokens too: a node joining with one must land in this
    cluster, not bring back one of the old name."""
    org_id, old_name = conn.execute(select(clusters.c.org_id, clusters.c.name).where(clusters.c.id == cluster_id)).one()
    conn.execute(update(clusters).where(clusters.c.id == cluster_id).values(**values))
    if "name" in values:
        conn.execute(update(join_tokens).where(join_tokens.c.org_id == org_id, join_tokens.c.cluster == old_name)
                     .values(cluster=values["name"]))
    events.record(conn, now, "cluster_update", f"cluster {cluster_id}: {', '.join(sorted(values))}", actor=actor,
                  org_id=org_id)


def holdings(conn: Connection, row: dict) -> dict[str, int]:
    """What still uses the cluster (and so keeps it from being deleted): its nodes and its
    jobs that have not ended."""
    node_count = conn.execute(select(func.count()).select_from(nodes).where(
        nodes.c.org_id == row["org_id"], nodes.c.cluster == row["name"])).scalar_one()
    job_count = conn.execute(select(func.count()).select_from(jobs).where(
        jobs.c.org_id == row["org_id"], jobs.c.cluster == row["name"], jobs.c.state.in_(ACTIVE_STATES))).scalar_one()
    return {what: n for what, n in (("nodes", node_count), ("active jobs", job_count)) if n}


def delete_cluster(conn: Connection, row: dict, now: float, actor: str) -> None:
    """The cluster and the join tokens that named it (a node joining with one would bring it back)."""
    conn.execute(delete(join_tokens).where(join_tokens.c.org_id == row["org_id"], join_tokens.c.cluster == row["name"]))
    conn.execute(delete(clusters).where(clusters.c.id == row["id"]))
    events.record(conn, now, "cluster_delete", f"cluster {row['id']} ({row['name']})", actor=actor,
                  org_id=row["org_id"])


def booked(conn: Connection, org_id: int, name: str) -> Booked:
    """What the cluster holds: the cores, memory and GPUs of the jobs placed on its nodes
    (per part for a gang, as the scheduler's quota ledger counts allocations), plus what
    started services not placed yet ask for.

    The second part is how the deployment service this product replaces kept its books:
    a started deployment holds its resources against the cluster's quota whether or not
    a node runs it yet (a cluster may have no nodes at all), so starting one more
    deployment than the quota allows is refused even before any node joins.
    """
    in_cluster = (nodes.c.org_id == org_id) & (nodes.c.cluster == name)
    cores = conn.execute(select(func.count()).select_from(core_claims.join(nodes, core_claims.c.node == nodes.c.name))
                         .where(in_cluster)).scalar_one()
    memory_mb, gpus = 0, 0
    # Memory and GPUs per part: a gang holds its request on each of its nodes in the cluster.
    parts = select(core_claims.c.job_id, core_claims.c.node).select_from(
        core_claims.join(nodes, core_claims.c.node == nodes.c.name)).where(in_cluster).distinct().subquery()
    placed = select(jobs.c.memory_mb, jobs.c.gpus).select_from(parts.join(jobs, jobs.c.id == parts.c.job_id)).where(
        jobs.c.state.in_(HOLDING_STATE_VALUES))
    for row in conn.execute(placed):
        memory_mb += row.memory_mb
        gpus += row.gpus
    waiting = conn.execute(select(func.coalesce(func.sum(jobs.c.cores), 0), func.coalesce(func.sum(jobs.c.memory_mb), 0),
                                  func.coalesce(func.sum(jobs.c.gpus), 0)).where(
        jobs.c.org_id == org_id, jobs.c.cluster == name, jobs.c.kind == "service", jobs.c.held.is_(False),
        jobs.c.state == JobState.PENDING.value)).one()
    return Booked(cores + int(waiting[0]), memory_mb + int(waiting[1]), gpus + int(waiting[2]))


def available(row: dict, held: Booked) -> dict[str, int | None]:
    """Quota minus what is booked, per resource (None: no quota on it). Never below 0: a
    quota lowered under what already runs leaves nothing available, it does not owe."""
    pairs = (("cores", row["quota_cores"], held.cores), ("memory_mb", row["quota_memory_mb"], held.memory_mb),
             ("gpus", row["quota_gpus"], held.gpus))
    return {name: None if quota is None else max(0, quota - used) for name, quota, used in pairs}
