"""Clusters under organizations: the use cases both APIs share (the product's
/api/v1/clusters and the deployment service's /clusters/ at the root).

Who may touch a cluster is decided in one place, the ``require_cluster_role``
dependency: the cluster in the path must belong to one of the caller's
organizations (else 404, exactly as a cluster that does not exist, so ids cannot
be probed), and writes need an admin of it (403 for a member, who may see it).
Its figures come from one rule, ``heaven.store.clusters.booked``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.exc import IntegrityError

from heaven.control.auth import Caller, Me, role_at_least
from heaven.control.errors import ApiError, not_found
from heaven.control.node_auth import issue_join_token
from heaven.control.runtime import Controller
from heaven.control.scope import org_of_caller
from heaven.store import clusters, organizations
from heaven.store.tables import nodes
from heaven.wire.clusters import ClusterOut, Figures, Quota
from heaven.wire.fields import MAX_INT

ClusterId = Annotated[int, Path(ge=1, le=MAX_INT, description="cluster id")]


@dataclass(frozen=True)
class ClusterAccess:
    row: dict
    role: str
    caller: Caller
    least: str

    def reconfirm(self, conn) -> ClusterAccess:
        """Again inside the write transaction: the cluster or the caller's role may have gone since."""
        row = clusters.by_id(conn, self.row["id"])
        if row is None:
            raise not_found("cluster", self.row["id"])
        return replace(self, row=row, role=role_at_least(conn, row["org_id"], self.caller, self.least,
                                                         not_found("cluster", row["id"])))


def _access(conn, cluster_id: int, caller: Caller, least: str) -> ClusterAccess:
    row = clusters.by_id(conn, cluster_id)
    missing = not_found("cluster", cluster_id)
    if row is None:
        raise missing
    return ClusterAccess(row, role_at_least(conn, row["org_id"], caller, least, missing), caller, least)


def require_cluster_role(least: str) -> Callable[..., ClusterAccess]:
    """A dependency: the cluster ``{cluster_id}`` and the caller's role in its organization, at least ``least``."""
    def check(cluster_id: ClusterId, caller: Me, request: Request) -> ClusterAccess:
        with request.app.state.controller.store.read() as conn:
            return _access(conn, cluster_id, caller, least)
    return check


ClusterMember = Annotated[ClusterAccess, Depends(require_cluster_role("member"))]
ClusterAdmin = Annotated[ClusterAccess, Depends(require_cluster_role("admin"))]


def _name_taken(name: str) -> ApiError:
    return ApiError(409, "conflict", f"name: this organization has a cluster named {name} already", "name")


def create(ctl: Controller, caller: Caller, org: str | int | None, name: str, quota: dict,
           org_field: str = "org") -> dict:
    """A cluster of ``org``, made by one of its admins or its owner; its row."""
    try:
        with ctl.store.begin() as conn:
            org_id = org_of_caller(lambda: contextlib.nullcontext(conn), caller, org, org_field)
            role_at_least(conn, org_id, caller, "admin")
            if clusters.get(conn, org_id, name) is not None:
                raise _name_taken(name)
            cluster_id = clusters.create(conn, org_id, name, quota, caller.person_id, ctl.clock(), caller.username)
    except IntegrityError:  # a concurrent create of the same name won the race
        raise _name_taken(name) from None
    ctl.wake()
    with ctl.store.read() as conn:
        return clusters.by_id(conn, cluster_id)


def update(ctl: Controller, access: ClusterAccess, values: dict) -> dict:
    """Change the quota fields (and the name) given in ``values``. A quota only limits what
    starts from now on. A cluster with nodes keeps its name: they joined it by that name."""
    try:
        with ctl.store.begin() as conn:
            access = access.reconfirm(conn)
            row = access.row
            if "name" in values and values["name"] != row["name"]:
                if holdings := clusters.holdings(conn, row):
                    raise ApiError(409, "in_use", f"name: cluster {row['id']} cannot be renamed while it has "
                                                  f"{_listed(holdings)}", "name")
                if clusters.get(conn, row["org_id"], values["name"]) is not None:
                    raise _name_taken(values["name"])
            if values:
                clusters.update_cluster(conn, row["id"], values, ctl.clock(), access.caller.username)
    except IntegrityError:
        raise _name_taken(values.get("name", "")) from None
    ctl.wake()
    with ctl.store.read() as conn:
        return clusters.by_id(conn, row["id"])


def delete(ctl: Controller, access: ClusterAccess) -> None:
    """Refused (409) while nodes are in the cluster or jobs in it have not ended."""
    with ctl.store.begin() as conn:
        access = access.reconfirm(conn)
        if holdings := clusters.holdings(conn, access.row):
            raise ApiError(409, "not_empty", f"cluster {access.row['id']} still has {_listed(holdings)}", "id")
        clusters.delete_cluster(conn, access.row, ctl.clock(), access.caller.username)


def join_token(ctl: Controller, access: ClusterAccess, name: str) -> dict:
    """A join token whose nodes join this cluster (its secret is in this answer only)."""
    with ctl.store.begin() as conn:
        access = access.reconfirm(conn)
        return issue_join_token(conn, access.row["org_id"], name, ctl.clock(), access.caller.username,
                                cluster=access.row["name"])


def visible(ctl: Controller, caller: Caller) -> list[dict]:
    """The clusters of the caller's organizations."""
    with ctl.store.read() as conn:
        return clusters.of_orgs(conn, list(organizations.roles_of(conn, caller.person_id)))


def _listed(holdings: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in holdings.items())


# -- what both APIs answer ------------------------------------------------------------------------

@dataclass(frozen=True)
class Figured:
    row: dict
    nodes: list[str]
    quota: Quota
    allocated: Figures
    available: Quota


def figured(ctl: Controller, rows: list[dict]) -> list[Figured]:
    """Each cluster with its nodes and its live figures, read in one transaction."""
    with ctl.store.read() as conn:
        out = []
        for row in rows:
            held = clusters.booked(conn, row["org_id"], row["name"])
            names = conn.execute(nodes.select().with_only_columns(nodes.c.name).where(
                nodes.c.org_id == row["org_id"], nodes.c.cluster == row["name"]).order_by(nodes.c.name)).scalars()
            quota = Quota(cores=row["quota_cores"], memory_mb=row["quota_memory_mb"], gpus=row["quota_gpus"])
            free = clusters.available(row, held)
            out.append(Figured(row, list(names), quota, Figures(cores=held.cores, memory_mb=held.memory_mb,
                                                                 gpus=held.gpus), Quota(**free)))
        return out


def product_out(f: Figured) -> ClusterOut:
    return ClusterOut(id=f.row["id"], org_id=f.row["org_id"], name=f.row["name"], nodes=f.nodes, quota=f.quota,
                      allocated=f.allocated, available=f.available, creator_id=f.row["creator_id"],
                      created_at=f.row["created_at"])
