"""/api/v1/clusters: named pools of nodes, each with an optional quota."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy import func, insert, select, update

from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.store.jobs import HOLDING_STATE_VALUES
from heaven.store.engine import default_org_id
from heaven.store.tables import clusters, core_claims, jobs, nodes
from heaven.wire.api import ClusterIn, ClusterOut
from heaven.wire.fields import Name

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"])
Ctl = Annotated[Controller, Depends(controller)]


@router.put("/{name}", response_model=ClusterOut, responses=answers(422))
def put(name: Annotated[Name, Path()], body: ClusterIn, ctl: Ctl) -> ClusterOut:
    """Create a cluster or change its quota (a quota only limits what starts from now on)."""
    values = {"quota_cores": body.quota_cores, "quota_memory_mb": body.quota_memory_mb, "quota_gpus": body.quota_gpus}
    with ctl.store.begin() as conn:
        if conn.execute(select(clusters.c.id).where(clusters.c.name == name)).first() is None:
            conn.execute(insert(clusters).values(name=name, org_id=default_org_id(conn), **values))
        else:
            conn.execute(update(clusters).where(clusters.c.name == name).values(**values))
    ctl.wake()
    return next(c for c in listing(ctl) if c.name == name)


@router.get("", response_model=list[ClusterOut])
def listing(ctl: Ctl) -> list[ClusterOut]:
    with ctl.store.read() as conn:
        quotas = {r.name: r for r in conn.execute(select(clusters))}
        node_rows = conn.execute(select(nodes.c.name, nodes.c.cluster)).all()
        used_cores = dict(conn.execute(select(nodes.c.cluster, func.count()).select_from(
            core_claims.join(nodes, core_claims.c.node == nodes.c.name)).group_by(nodes.c.cluster)).all())
        used_memory = dict(conn.execute(select(nodes.c.cluster, func.sum(jobs.c.memory_mb)).select_from(
            jobs.join(nodes, jobs.c.node == nodes.c.name)).where(jobs.c.state.in_(HOLDING_STATE_VALUES))
            .group_by(nodes.c.cluster)).all())
    names = sorted(set(quotas) | {c for _, c in node_rows})
    return [ClusterOut(
        name=n, nodes=sorted(name for name, c in node_rows if c == n),
        quota_cores=quotas[n].quota_cores if n in quotas else None,
        quota_memory_mb=quotas[n].quota_memory_mb if n in quotas else None,
        quota_gpus=quotas[n].quota_gpus if n in quotas else None,
        used_cores=used_cores.get(n, 0), used_memory_mb=int(used_memory.get(n) or 0),
    ) for n in names]
