"""/api/v1/clusters: an organization's named pools of nodes, each with a fixed quota
and live allocated / available figures.

Who may do what is decided by the dependencies of heaven.control.cluster_service
(another organization's cluster answers 404; writes need an admin of its own);
this module only maps HTTP onto those use cases, which the root API shares.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from heaven.control import cluster_service as service
from heaven.control.auth import Me
from heaven.control.cluster_service import ClusterAdmin, ClusterMember
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.wire.clusters import ClusterCreate, ClusterJoinTokenIn, ClusterOut, ClusterQuotaIn
from heaven.wire.people import JoinTokenCreated

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"])
Ctl = Annotated[Controller, Depends(controller)]
IN_CLUSTER = (401, 403, 404, 422)  # every route under /{cluster_id}


def _one(ctl: Controller, row: dict) -> ClusterOut:
    return service.product_out(service.figured(ctl, [row])[0])


@router.post("", status_code=201, response_model=ClusterOut, responses=answers(401, 403, 404, 409, 422))
def create(body: ClusterCreate, me: Me, ctl: Ctl) -> ClusterOut:
    """A cluster of ``org`` (a name or an id; default: the caller's only or first), made by
    an admin or the owner of it."""
    quota = body.model_dump(include={"quota_cores", "quota_memory_mb", "quota_gpus"})
    return _one(ctl, service.create(ctl, me, body.org, body.name, quota))


@router.get("", response_model=list[ClusterOut], responses=answers(401))
def listing(me: Me, ctl: Ctl) -> list[ClusterOut]:
    """The clusters of the caller's organizations."""
    return [service.product_out(f) for f in service.figured(ctl, service.visible(ctl, me))]


@router.get("/{cluster_id}", response_model=ClusterOut, responses=answers(*IN_CLUSTER))
def show(member: ClusterMember, ctl: Ctl) -> ClusterOut:
    return _one(ctl, member.row)


@router.patch("/{cluster_id}", response_model=ClusterOut, responses=answers(*IN_CLUSTER, 409))
def set_quota(body: ClusterQuotaIn, admin: ClusterAdmin, ctl: Ctl) -> ClusterOut:
    """Change the quota fields given (``null`` removes that limit); it limits what starts from now on."""
    return _one(ctl, service.update(ctl, admin, body.model_dump(include=body.model_fields_set)))


@router.delete("/{cluster_id}", status_code=204, responses=answers(*IN_CLUSTER, 409))
def delete(admin: ClusterAdmin, ctl: Ctl) -> Response:
    """Refused (409) while nodes are in it or its jobs have not ended; its join tokens go with it."""
    service.delete(ctl, admin)
    return Response(status_code=204)


@router.post("/{cluster_id}/join-tokens", status_code=201, response_model=JoinTokenCreated,
             responses=answers(*IN_CLUSTER))
def join_token(body: ClusterJoinTokenIn, admin: ClusterAdmin, ctl: Ctl) -> JoinTokenCreated:
    """A join token whose agents become nodes of this cluster (heaven agent --token); the
    secret is in this answer only. Listed and revoked with the organization's join tokens."""
    return JoinTokenCreated(**service.join_token(ctl, admin, body.name))
