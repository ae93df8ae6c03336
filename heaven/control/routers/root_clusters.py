"""The deployment service's ``/clusters/`` at the root, byte-compatible for its clients:
``{name, total_ram, total_cpu, total_gpu, organization_id}`` answered with
``available_ram, available_cpu, available_gpu, creator_id, created_at`` too; every
success 200, DELETE answers ``true``, the collection with and without its slash.

The same use cases as /api/v1/clusters (heaven.control.cluster_service): the same
role dependencies, the same figures (``booked``), only the names differ. Units:
``total_cpu`` is cores, ``total_ram`` megabytes, ``total_gpu`` GPUs (docs/clusters.md).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from heaven.control import cluster_service as service
from heaven.control.auth import Me
from heaven.control.cluster_service import ClusterAdmin, ClusterMember, Figured
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.wire.clusters import RootClusterIn, RootClusterOut, RootClusterUpdate
from heaven.wire.root import iso

router = APIRouter(tags=["deployment service (root)"])
Ctl = Annotated[Controller, Depends(controller)]
IN_CLUSTER = (401, 403, 404, 422)
# The root names of the quota fields: one table, read both ways.
ROOT_NAMES = {"total_cpu": "quota_cores", "total_ram": "quota_memory_mb", "total_gpu": "quota_gpus"}


def root_out(f: Figured) -> RootClusterOut:
    return RootClusterOut(
        id=f.row["id"], name=f.row["name"], organization_id=f.row["org_id"],
        total_ram=f.quota.memory_mb, total_cpu=f.quota.cores, total_gpu=f.quota.gpus,
        available_ram=f.available.memory_mb, available_cpu=f.available.cores, available_gpu=f.available.gpus,
        creator_id=f.row["creator_id"], created_at=iso(f.row["created_at"]))


def _one(ctl: Controller, row: dict) -> RootClusterOut:
    return root_out(service.figured(ctl, [row])[0])


@router.post("/clusters/", response_model=RootClusterOut, responses=answers(401, 403, 404, 409, 422))
@router.post("/clusters", response_model=RootClusterOut, responses=answers(401, 403, 404, 409, 422),
             include_in_schema=False)
def create(body: RootClusterIn, me: Me, ctl: Ctl) -> RootClusterOut:
    """A cluster of ``organization_id``, made by an admin or the owner of it."""
    quota = {ours: getattr(body, root) for root, ours in ROOT_NAMES.items()}
    return _one(ctl, service.create(ctl, me, body.organization_id, body.name, quota, org_field="organization_id"))


@router.get("/clusters/", response_model=list[RootClusterOut], responses=answers(401))
@router.get("/clusters", response_model=list[RootClusterOut], responses=answers(401), include_in_schema=False)
def listing(me: Me, ctl: Ctl) -> list[RootClusterOut]:
    """The clusters of the caller's organizations."""
    return [root_out(f) for f in service.figured(ctl, service.visible(ctl, me))]


@router.get("/clusters/{cluster_id}", response_model=RootClusterOut, responses=answers(*IN_CLUSTER))
def show(member: ClusterMember, ctl: Ctl) -> RootClusterOut:
    return _one(ctl, member.row)


@router.put("/clusters/{cluster_id}", response_model=RootClusterOut, responses=answers(*IN_CLUSTER, 409))
def update(body: RootClusterUpdate, admin: ClusterAdmin, ctl: Ctl) -> RootClusterOut:
    """Change the fields given (a quota limits what starts from now on)."""
    given = body.model_dump(include=body.model_fields_set)
    values = {ROOT_NAMES.get(k, k): v for k, v in given.items() if v is not None}
    return _one(ctl, service.update(ctl, admin, values))


@router.delete("/clusters/{cluster_id}", response_model=bool, responses=answers(*IN_CLUSTER, 409))
def delete(admin: ClusterAdmin, ctl: Ctl) -> bool:
    """Answers ``true``; refused (409) while nodes are in it or its jobs have not ended."""
    service.delete(ctl, admin)
    return True
