"""The deployment service's own API at the root, byte-compatible for its clients:
``POST /register`` (a person), ``POST /token``, ``POST /join-organization``,
``/organizations/`` and ``/clusters/``. Every success answers 200 (creations too), a DELETE answers
``true``, and collection routes answer with and without the trailing slash, as that
service did. Each route is the product's own use case (heaven.control.routers.auth
and .organizations, heaven.control.cluster_service) with that service's shapes around it; roles are the same
dependencies (``require_role``), so nothing about who may do what is decided here.

``POST /register`` is also the original agents' registration (``{vm_name, ...}``): the
body decides, ``username`` a person and anything else an agent of the original
protocol (which is served only where heaven.control.routers.legacy says).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from heaven.control import cluster_service as service
from heaven.control import legacy_service
from heaven.control.auth import FORGETS_CALLERS, Me, Membership, require_role
from heaven.control.cluster_service import ClusterAdmin, ClusterMember, Figured
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.ratelimit import rate_limited
from heaven.control.routers import auth, legacy, organizations
from heaven.control.runtime import Controller
from heaven.store import organizations as orgs
from heaven.store import people
from heaven.wire.clusters import RootClusterIn, RootClusterOut, RootClusterUpdate
from heaven.wire.fields import ROOT_RAM_MB
from heaven.wire.legacy import LegacyRegister
from heaven.wire.people import (MAX_PASSWORD, RegisterIn, RootJoinIn, RootOrganizationIn, RootOrganizationOut,
                                RootTokenOut, RootUserOut, iso)

# People, tokens and memberships change here too: remembered callers are forgotten around each write.
router = APIRouter(tags=["deployment service (root)"], dependencies=[FORGETS_CALLERS])
Ctl = Annotated[Controller, Depends(controller)]
Member = Annotated[Membership, Depends(require_role("member"))]
Admin = Annotated[Membership, Depends(require_role("admin"))]
Owner = Annotated[Membership, Depends(require_role("owner"))]
IN_ORG = IN_CLUSTER = (401, 403, 404, 422)  # every route under /{org_id} or /{cluster_id}
REGISTER_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"anyOf": [
    {"$ref": "#/components/schemas/RegisterIn"}, {"$ref": "#/components/schemas/LegacyRegister"}]}}}}}


def document(schema: dict) -> dict:
    """Add the two bodies ``POST /register`` takes to the OpenAPI components: the route reads a
    plain object and dispatches it itself, so FastAPI does not collect them from it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (RegisterIn, LegacyRegister):
        components.setdefault(model.__name__, model.model_json_schema(ref_template="#/components/schemas/{model}"))
    return schema


def _parsed(model, body: dict):
    try:
        return model.model_validate(body)
    except ValidationError as exc:  # the same 422 shape as any other body (heaven.control.errors)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


@router.post("/register", responses=answers(404, 409, 422, 429), openapi_extra=REGISTER_BODY)
def register(body: Annotated[dict, Body()], request: Request, ctl: Ctl) -> dict:
    """A person (``{username, email, password}``) or an agent of the original protocol (``{vm_name, ...}``)."""
    if "username" in body:
        rate_limited(request)
        person = auth.register(_parsed(RegisterIn, body), ctl)
        return RootUserOut(id=person.id, username=person.username, email=person.email,
                           created_at=iso(person.created_at)).model_dump()
    legacy.check_served(ctl)
    return legacy_service.register(ctl, _parsed(LegacyRegister, body))


@router.post("/token", response_model=RootTokenOut, dependencies=[Depends(rate_limited)],
             responses=answers(401, 422, 429))
def token(
    request: Request, ctl: Ctl, response: Response,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1000)] = "",
) -> RootTokenOut:
    """OAuth2 password flow (form-encoded): ``{access_token, token_type: "bearer"}``."""
    answer = auth.token(ctl, request.app.state.auth, response, username, password, grant_type, scope)
    return RootTokenOut(access_token=answer.access_token)


def _org_out(ctl: Controller, org_id: int, person_id: int) -> RootOrganizationOut:
    shown = organizations._show(ctl, org_id, person_id)  # the product's rule for who sees the invite code
    with ctl.store.read() as conn:
        users = [RootUserOut(id=m["id"], username=m["username"], email=m["email"],
                             created_at=iso((people.get(conn, m["id"]) or {}).get("created_at")))
                 for m in orgs.members(conn, org_id)]
    return RootOrganizationOut(id=shown.id, name=shown.name, invite_code=shown.invite_code,
                               created_at=iso(shown.created_at), users=users)


@router.post("/join-organization", response_model=RootOrganizationOut, responses=answers(401, 404, 422))
def join_organization(body: RootJoinIn, me: Me, ctl: Ctl) -> RootOrganizationOut:
    """Join as a member with an invite code."""
    return _org_out(ctl, organizations.join(body, me, ctl).id, me.person_id)


@router.post("/organizations/", response_model=RootOrganizationOut, responses=answers(401, 409, 422))
@router.post("/organizations", response_model=RootOrganizationOut, responses=answers(401, 409, 422),
             include_in_schema=False)
def create_organization(body: RootOrganizationIn, me: Me, ctl: Ctl) -> RootOrganizationOut:
    return _org_out(ctl, organizations.create(body, me, ctl).id, me.person_id)


@router.get("/organizations/", response_model=list[RootOrganizationOut], responses=answers(401))
@router.get("/organizations", response_model=list[RootOrganizationOut], responses=answers(401),
            include_in_schema=False)
def list_organizations(me: Me, ctl: Ctl) -> list[RootOrganizationOut]:
    return [_org_out(ctl, org.id, me.person_id) for org in organizations.listing(me, ctl)]


@router.get("/organizations/{org_id}", response_model=RootOrganizationOut, responses=answers(*IN_ORG))
def show_organization(member: Member, ctl: Ctl) -> RootOrganizationOut:
    return _org_out(ctl, member.org_id, member.caller.person_id)


@router.put("/organizations/{org_id}", response_model=RootOrganizationOut, responses=answers(*IN_ORG, 409))
def rename_organization(body: RootOrganizationIn, admin: Admin, ctl: Ctl) -> RootOrganizationOut:
    organizations.rename(body, admin, ctl)
    return _org_out(ctl, admin.org_id, admin.caller.person_id)


@router.delete("/organizations/{org_id}", response_model=bool, responses=answers(*IN_ORG, 409))
def delete_organization(owner: Owner, ctl: Ctl) -> bool:
    """Answers ``true``; refused (409) while it holds jobs, nodes or clusters."""
    organizations.delete(owner, ctl)
    return True


@router.post("/organizations/{org_id}/regenerate-invite", response_model=RootOrganizationOut,
             responses=answers(*IN_ORG))
def regenerate_invite(admin: Admin, ctl: Ctl) -> RootOrganizationOut:
    organizations.regenerate_invite(admin, ctl)
    return _org_out(ctl, admin.org_id, admin.caller.person_id)


# -- /clusters/: the same use cases as /api/v1/clusters (heaven.control.cluster_service), the same
# role dependencies and figures (``booked``); only the names and the RAM unit differ: total_cpu
# is cores, total_ram whole GB (as required_ram of deployments), total_gpu GPUs (docs/clusters.md).

# The root names of the quota fields and what one of their units is in ours: one table, read both ways.
ROOT_NAMES = {"total_cpu": ("quota_cores", 1), "total_ram": ("quota_memory_mb", ROOT_RAM_MB),
              "total_gpu": ("quota_gpus", 1)}


def _ours(root: dict) -> dict:
    return {ROOT_NAMES[k][0] if k in ROOT_NAMES else k: v * ROOT_NAMES[k][1] if k in ROOT_NAMES else v
            for k, v in root.items()}


def _gb(mb: int | None) -> int | None:
    return None if mb is None else mb // ROOT_RAM_MB  # whole GB: a product job's odd MB round down


def root_out(f: Figured) -> RootClusterOut:
    return RootClusterOut(
        id=f.row["id"], name=f.row["name"], organization_id=f.row["org_id"],
        total_ram=_gb(f.quota.memory_mb), total_cpu=f.quota.cores, total_gpu=f.quota.gpus,
        available_ram=_gb(f.available.memory_mb), available_cpu=f.available.cores, available_gpu=f.available.gpus,
        creator_id=f.row["creator_id"], created_at=iso(f.row["created_at"]))


def _cluster(ctl: Controller, row: dict) -> RootClusterOut:
    return root_out(service.figured(ctl, [row])[0])


@router.post("/clusters/", response_model=RootClusterOut, responses=answers(401, 403, 404, 409, 422))
@router.post("/clusters", response_model=RootClusterOut, responses=answers(401, 403, 404, 409, 422),
             include_in_schema=False)
def create_cluster(body: RootClusterIn, me: Me, ctl: Ctl) -> RootClusterOut:
    """A cluster of ``organization_id``, made by an admin or the owner of it."""
    quota = _ours({root: getattr(body, root) for root in ROOT_NAMES})
    return _cluster(ctl, service.create(ctl, me, body.organization_id, body.name, quota, org_field="organization_id"))


@router.get("/clusters/", response_model=list[RootClusterOut], responses=answers(401))
@router.get("/clusters", response_model=list[RootClusterOut], responses=answers(401), include_in_schema=False)
def list_clusters(me: Me, ctl: Ctl) -> list[RootClusterOut]:
    """The clusters of the caller's organizations."""
    return [root_out(f) for f in service.figured(ctl, service.visible(ctl, me))]


@router.get("/clusters/{cluster_id}", response_model=RootClusterOut, responses=answers(*IN_CLUSTER))
def show_cluster(member: ClusterMember, ctl: Ctl) -> RootClusterOut:
    return _cluster(ctl, member.row)


@router.put("/clusters/{cluster_id}", response_model=RootClusterOut, responses=answers(*IN_CLUSTER, 409))
def update_cluster(body: RootClusterUpdate, admin: ClusterAdmin, ctl: Ctl) -> RootClusterOut:
    """Change the fields given (a quota limits what starts from now on)."""
    given = body.model_dump(include=body.model_fields_set)
    values = _ours({k: v for k, v in given.items() if v is not None})
    return _cluster(ctl, service.update(ctl, admin, values))


@router.delete("/clusters/{cluster_id}", response_model=bool, responses=answers(*IN_CLUSTER, 409))
def delete_cluster(admin: ClusterAdmin, ctl: Ctl) -> bool:
    """Answers ``true``; refused (409) while nodes are in it or its jobs have not ended."""
    service.delete(ctl, admin)
    return True
