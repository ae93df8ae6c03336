"""/api/v1/deployments: create, list, show, update, delete, start, stop, cancel.

A deployment is a job of kind ``service`` (heaven.control.deployment_service holds its
rules, shared with the root API's adapter). Scoped like jobs: another organization's
deployment answers 404; changing one needs its owner or an admin of its organization.
Statuses here are truthful: a started deployment no node runs yet is ``pending``, with
the reason it waits.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from heaven.control import deployment_service as service
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.pages import PAGED, ContinueToken, decode, mark_next
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.store import deployments
from heaven.store.deployments import dependency_ids
from heaven.wire.deployments import DeploymentIn, DeploymentOut, DeploymentUpdate, StopStatus
from heaven.wire.fields import Id

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])
Ctl = Annotated[Controller, Depends(controller)]
DeploymentId = Annotated[Id, Path(description="deployment id")]
ONE = (401, 403, 404, 409, 422)  # the answers of every route on one deployment


def deployment_out(row: dict) -> DeploymentOut:
    return DeploymentOut(
        id=row["id"], org_id=row["org_id"], owner_id=row["owner_id"], name=row["name"], status=service.status_of(row),
        state=row["state"], started=not row["held"], reason=row["reason"], command=row["command"] or [],
        docker_image=row["docker_image"], cores=row["cores"], memory_mb=row["memory_mb"], gpus=row["gpus"],
        priority=row["priority"], cluster=row["cluster"] or service.DEFAULT_CLUSTER, after=dependency_ids(row),
        node=row["node"] if row["state"] in ("assigned", "running") else None, restarts=row["restarts"],
        not_before=row["not_before"] if row["state"] == "pending" else None, exit_code=row["exit_code"],
        submitted_at=row["submitted_at"], released_at=row["released_at"], started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


@router.post("", status_code=201, response_model=DeploymentOut, responses=answers(401, 403, 404, 409, 422))
def create(body: DeploymentIn, ctl: Ctl, scope: Scope) -> DeploymentOut:
    """A deployment owned by the caller, pending until started (``org``: a name or an id)."""
    org_id = scope.org_for_submit(ctl.store.read, body.org)
    values = {"org_id": org_id, "cluster": body.cluster, "name": body.name, "command": body.command,
              "docker_image": body.docker_image, "cores": body.cores, "memory_mb": body.memory_mb, "gpus": body.gpus,
              "priority": body.priority}
    return deployment_out(service.create(ctl, scope, values, body.after))


@router.get("", response_model=list[DeploymentOut], responses={200: PAGED, **answers(400, 401, 422)})
def listing(request: Request, response: Response, ctl: Ctl, scope: Scope,
            limit: Annotated[int, Query(ge=1, le=10000)] = 1000, cursor: ContinueToken = None) -> list[DeploymentOut]:
    """The deployments of the caller's organizations, newest first, ``limit`` a page (see X-Continue)."""
    before = decode("deployments", cursor)
    with ctl.store.read() as conn:
        page = [deployment_out(r) for r in deployments.listing(conn, scope.org_ids(conn), limit, before)]
    return mark_next(request, response, "deployments", page, limit, lambda d: d.id)


@router.get("/{deployment_id}", response_model=DeploymentOut, responses=answers(401, 404, 422))
def show(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> DeploymentOut:
    with ctl.store.read() as conn:
        return deployment_out(service.visible(conn, scope, deployment_id))


@router.put("/{deployment_id}", response_model=DeploymentOut, responses=answers(*ONE))
def update(deployment_id: DeploymentId, body: DeploymentUpdate, ctl: Ctl, scope: Scope) -> DeploymentOut:
    """Change a deployment that was not started yet; absent fields stay as they are."""
    changes = body.model_dump(exclude_unset=True, exclude={"after"})
    changes = {k: v for k, v in changes.items() if v is not None}
    return deployment_out(service.update(ctl, scope, deployment_id, changes, body.after))


@router.delete("/{deployment_id}", status_code=204, response_class=Response, responses=answers(*ONE))
def delete(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> Response:
    """Delete it (a running one is stopped first); refused while unfinished deployments depend on it."""
    service.delete(ctl, scope, deployment_id)
    return Response(status_code=204)


@router.post("/{deployment_id}/start", response_model=DeploymentOut, responses=answers(*ONE, 503))
async def start(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> DeploymentOut:
    """Start a pending deployment: its dependencies must have completed and its resources be free
    in its cluster's quota. The scheduler then places it (evicting lower priorities if it must)."""
    return deployment_out(await service.start(ctl, scope, deployment_id))


@router.post("/{deployment_id}/stop", response_model=DeploymentOut, responses=answers(*ONE, 503))
async def stop(deployment_id: DeploymentId, ctl: Ctl, scope: Scope,
               status: Annotated[StopStatus, Query(description="how it ends")] = "completed") -> DeploymentOut:
    """Stop a running deployment; its resources are free at once, and held dependents whose
    dependencies have all completed start."""
    return deployment_out(await service.stop(ctl, scope, deployment_id, status))


@router.post("/{deployment_id}/cancel", response_model=DeploymentOut, responses=answers(*ONE))
async def cancel(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> DeploymentOut:
    """Cancel a pending deployment (one no node runs yet)."""
    return deployment_out(await run_in_threadpool(service.cancel, ctl, scope, deployment_id))
