"""/deployments/: the root API of the deployment service this product replaces, byte-compatible
for its clients, as a thin adapter over heaven.control.deployment_service.

As that service did: every success answers 200 (creations too), DELETE answers ``true``,
collection routes answer with and without the trailing slash, priorities are the integers
1 (low), 2 (medium) and 3 (high), ``required_ram`` is in GB (see heaven.wire.deployments),
and a refused start, stop, cancel or change answers 400. Errors keep this product's one
shape, ``{error, message, field}``, naming the root API's own fields. Statuses are the
books' view (``status_of(books=True)``): a started deployment is ``running`` even while no
node of its cluster runs it yet. Callers sign in with a Bearer token (POST /token or
/api/v1/auth/token).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from heaven.control import deployment_service as service
from heaven.control.deps import controller
from heaven.control.errors import ApiError, answers
from heaven.control.runtime import Controller
from heaven.control.scope import JobScope, Scope
from heaven.store import deployments
from heaven.store.deployments import dependency_ids
from heaven.wire.deployments import (ROOT_PRIORITIES, RootDeploymentIn, RootDeploymentOut,
                                     RootDeploymentUpdate, RootLink, root_priority)
from heaven.wire.fields import ROOT_RAM_MB, Id
from heaven.wire.people import iso

router = APIRouter(prefix="/deployments", tags=["deployment service (root)"])
Ctl = Annotated[Controller, Depends(controller)]
DeploymentId = Annotated[Id, Path(description="deployment id")]
ONE = (400, 401, 403, 404, 422)
# The product's field names in the service's errors, as this API names them.
FIELDS = {"cores": "required_cpu", "memory_mb": "required_ram", "gpus": "required_gpu", "cluster": "cluster_id",
          "after": "dependency_ids"}


@contextmanager
def as_root_errors() -> Iterator[None]:
    """The service's 409 and 422 refusals are this API's 400, with its field names."""
    try:
        yield
    except ApiError as exc:
        field = FIELDS.get(exc.field, exc.field)
        message = exc.message
        if isinstance(exc, service.InsufficientResources) and exc.field == "memory_mb":
            message = exc.worded(field, "GB of RAM", ROOT_RAM_MB)  # this API counts memory in whole GB
        elif exc.field in FIELDS and message.startswith(f"{exc.field}:"):
            message = f"{field}:{message[len(exc.field) + 1:]}"
        status = 400 if exc.status in (409, 422) else exc.status
        raise ApiError(status, exc.error, message, field, exc.extra, exc.headers) from None


def _link(row: dict) -> RootLink:
    return RootLink(id=row["id"], name=row["name"], status=service.status_of(row, books=True))


def root_out(conn, row: dict) -> RootDeploymentOut:
    deps, dependents = service.links(conn, row)
    cluster_id = deployments.cluster_ids(conn, {(row["org_id"], row["cluster"])}).get((row["org_id"], row["cluster"]))
    return RootDeploymentOut(
        name=row["name"], docker_image=row["docker_image"], required_ram=row["memory_mb"] // ROOT_RAM_MB,
        required_cpu=row["cores"], required_gpu=row["gpus"], priority=root_priority(row["priority"]),
        cluster_id=cluster_id, dependency_ids=dependency_ids(row), id=row["id"],
        status=service.status_of(row, books=True), user_id=row["owner_id"], created_at=iso(row["submitted_at"]),
        started_at=iso(row["released_at"] if row["started_at"] is None else row["started_at"]),
        dependencies=[_link(d) for d in deps], dependents=[_link(d) for d in dependents],
    )


def _show(ctl: Controller, scope: JobScope, deployment_id: int) -> RootDeploymentOut:
    with ctl.store.read() as conn:
        return root_out(conn, service.visible(conn, scope, deployment_id))


def _cluster(conn, scope: JobScope, cluster_id: int) -> dict:
    """The caller's organization's cluster; another organization's answers as a missing one."""
    cluster = deployments.cluster_by_id(conn, cluster_id)
    if cluster is None or not scope.member_of(conn, cluster["org_id"]):
        raise ApiError(404, "not_found", f"cluster_id: cluster {cluster_id} does not exist", "cluster_id")
    return cluster


def _collection(method: Callable, **kwargs) -> Callable:
    """Register a collection route at ``/deployments/`` and ``/deployments`` (clients use both)."""
    def register(handler: Callable) -> Callable:
        method("/", **kwargs)(handler)
        method("", include_in_schema=False, **kwargs)(handler)
        return handler
    return register


@_collection(router.post, response_model=RootDeploymentOut, responses=answers(400, 401, 403, 404, 422))
def create(body: RootDeploymentIn, ctl: Ctl, scope: Scope) -> RootDeploymentOut:
    """A deployment in the cluster ``cluster_id``; it stays pending until started."""
    with as_root_errors():
        with ctl.store.read() as conn:
            cluster = _cluster(conn, scope, body.cluster_id)
        values = {"org_id": cluster["org_id"], "cluster": cluster["name"], "name": body.name, "command": None,
                  "docker_image": body.docker_image, "cores": body.required_cpu,
                  "memory_mb": body.required_ram * ROOT_RAM_MB, "gpus": body.required_gpu,
                  "priority": ROOT_PRIORITIES[body.priority]}
        row = service.create(ctl, scope, values, body.dependency_ids)
    return _show(ctl, scope, row["id"])


@_collection(router.get, response_model=list[RootDeploymentOut], responses=answers(401))
def listing(ctl: Ctl, scope: Scope) -> list[RootDeploymentOut]:
    with ctl.store.read() as conn:
        return [root_out(conn, row) for row in deployments.listing(conn, scope.org_ids(conn))]


@router.get("/{deployment_id}", response_model=RootDeploymentOut, responses=answers(401, 404, 422))
def show(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> RootDeploymentOut:
    return _show(ctl, scope, deployment_id)


@router.put("/{deployment_id}", response_model=RootDeploymentOut, responses=answers(*ONE))
def update(deployment_id: DeploymentId, body: RootDeploymentUpdate, ctl: Ctl, scope: Scope) -> RootDeploymentOut:
    """Change a deployment that was not started yet; absent fields stay as they are."""
    given = body.model_dump(exclude_unset=True)
    given = {k: v for k, v in given.items() if v is not None}
    changes = {k: given[k] for k in ("name", "docker_image") if k in given}
    for root_name, name in (("required_cpu", "cores"), ("required_gpu", "gpus")):
        if root_name in given:
            changes[name] = given[root_name]
    if "required_ram" in given:
        changes["memory_mb"] = given["required_ram"] * ROOT_RAM_MB
    if "priority" in given:
        changes["priority"] = ROOT_PRIORITIES[given["priority"]]
    with as_root_errors():
        if "cluster_id" in given:
            with ctl.store.read() as conn:
                cluster = _cluster(conn, scope, given["cluster_id"])
                row = service.visible(conn, scope, deployment_id)
            if cluster["org_id"] != row["org_id"]:
                raise ApiError(400, "other_organization", f"cluster_id: cluster {given['cluster_id']} belongs to "
                                                          "another organization than the deployment", "cluster_id")
            changes["cluster"] = cluster["name"]
        service.update(ctl, scope, deployment_id, changes, given.get("dependency_ids"))
    return _show(ctl, scope, deployment_id)


@router.delete("/{deployment_id}", response_model=bool, responses=answers(*ONE))
def delete(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> bool:
    with as_root_errors():
        service.delete(ctl, scope, deployment_id)
    return True


@router.post("/{deployment_id}/start", response_model=RootDeploymentOut, responses=answers(*ONE, 503))
async def start(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> RootDeploymentOut:
    """400 unless pending, every dependency completed and its resources free in the cluster."""
    with as_root_errors():
        await service.start(ctl, scope, deployment_id)
    return await run_in_threadpool(_show, ctl, scope, deployment_id)


@router.post("/{deployment_id}/stop", response_model=RootDeploymentOut, responses=answers(*ONE, 503))
async def stop(deployment_id: DeploymentId, ctl: Ctl, scope: Scope,
               status: Annotated[Literal["completed", "failed"], Query()] = "completed") -> RootDeploymentOut:
    """Stop a running deployment; then start every pending dependent that may start now."""
    with as_root_errors():
        await service.stop(ctl, scope, deployment_id, status, books=True)
    return await run_in_threadpool(_show, ctl, scope, deployment_id)


@router.post("/{deployment_id}/cancel", response_model=RootDeploymentOut, responses=answers(*ONE))
def cancel(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> RootDeploymentOut:
    """400 unless pending (created, not started)."""
    with as_root_errors():
        service.cancel(ctl, scope, deployment_id, books=True)
    return _show(ctl, scope, deployment_id)


def _related(deployment_id: int, ctl: Controller, scope: JobScope, which: int) -> list[RootDeploymentOut]:
    with ctl.store.read() as conn:
        row = service.visible(conn, scope, deployment_id)
        return [root_out(conn, r) for r in service.links(conn, row)[which]]


@router.get("/{deployment_id}/dependencies", response_model=list[RootDeploymentOut], responses=answers(401, 404, 422))
def dependencies(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> list[RootDeploymentOut]:
    return _related(deployment_id, ctl, scope, 0)


@router.get("/{deployment_id}/dependents", response_model=list[RootDeploymentOut], responses=answers(401, 404, 422))
def dependents(deployment_id: DeploymentId, ctl: Ctl, scope: Scope) -> list[RootDeploymentOut]:
    return _related(deployment_id, ctl, scope, 1)

