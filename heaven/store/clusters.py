"""Clusters of an organization and what they hold. Nothing here commits.

A cluster is named by its organization and its name (the name is unique within the
organization only). What it holds, for its quota's allocated and available
figures, is the one rule ``booked`` below: every API and the dashboard ask it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from heaven.core.states import JobState
from heaven.store.jobs import HOLDING_STATE_VALUES
from heaven.store.tables import clusters, core_claims, jobs, nodes  # noqa: F401 (clusters: the table, for callers)


@dataclass(frozen=True)
class Booked:
    cores: int = 0
    memory_mb: int = 0
    gpus: int = 0


def get(conn: Connection, org_id: int, name: str) -> dict | None:
    row = conn.execute(select(clusters).where(clusters.c.org_id == org_id, clusters.c.name == name)).first()
    return dict(row._mapping) if row else None


def booked(conn: Connection, org_id: int, name: str) -> Booked:
    """What the cluster holds: the cores, memory and GPUs of the jobs placed on its nodes,
    plus what started services not placed yet ask for.

    The second part is how the deployment service this product replaces kept its books:
    a started deployment holds its resources against the cluster's quota whether or not
    a node runs it yet (a cluster may have no nodes at all), so starting one more
    deployment than the quota allows is refused even before any node joins.
    """
    in_cluster = (nodes.c.org_id == org_id) & (nodes.c.cluster == name)
    cores = conn.execute(select(func.count()).select_from(core_claims.join(nodes, core_claims.c.node == nodes.c.name))
                         .where(in_cluster)).scalar_one()
    memory_mb, gpus = 0, 0
    placed = select(jobs.c.memory_mb, jobs.c.gpus).select_from(jobs.join(nodes, jobs.c.node == nodes.c.name)).where(
        in_cluster, jobs.c.state.in_(HOLDING_STATE_VALUES))
    for row in conn.execute(placed):
        memory_mb += row.memory_mb
        gpus += row.gpus
    waiting = conn.execute(select(func.coalesce(func.sum(jobs.c.cores), 0), func.coalesce(func.sum(jobs.c.memory_mb), 0),
                                  func.coalesce(func.sum(jobs.c.gpus), 0)).where(
        jobs.c.org_id == org_id, jobs.c.cluster == name, jobs.c.kind == "service", jobs.c.held.is_(False),
        jobs.c.state == JobState.PENDING.value)).one()
    return Booked(cores + int(waiting[0]), memory_mb + int(waiting[1]), gpus + int(waiting[2]))
