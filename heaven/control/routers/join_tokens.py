"""/api/v1/organizations/{org_id}/join-tokens: what agents join an organization with.

An admin makes one and gives it to the machines that should become nodes of the
organization (``heaven agent --token``); each agent trades it, once, for a node
credential of its own. Revoking a join token stops new joins, not joined nodes.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from heaven.control.auth import Membership, require_role
from heaven.control.deps import controller
from heaven.control.errors import answers, not_found
from heaven.control.runtime import Controller
from heaven.control.node_auth import issue_join_token
from heaven.store import join_tokens
from heaven.wire.fields import MAX_INT
from heaven.wire.people import JoinTokenCreated, JoinTokenIn, JoinTokenOut

router = APIRouter(prefix="/api/v1/organizations/{org_id}/join-tokens", tags=["organizations"])
Ctl = Annotated[Controller, Depends(controller)]
Admin = Annotated[Membership, Depends(require_role("admin"))]
IN_ORG = (401, 403, 404, 422)


@router.post("", status_code=201, response_model=JoinTokenCreated, responses=answers(*IN_ORG))
def create(body: JoinTokenIn, admin: Admin, ctl: Ctl) -> JoinTokenCreated:
    """The secret (``token``) is in this answer only."""
    with ctl.store.begin() as conn:
        admin.reconfirm(conn)
        return JoinTokenCreated(**issue_join_token(conn, admin.org_id, body.name, ctl.clock(), admin.caller.username))


@router.get("", response_model=list[JoinTokenOut], responses=answers(*IN_ORG))
def listing(admin: Admin, ctl: Ctl) -> list[JoinTokenOut]:
    with ctl.store.read() as conn:
        return [JoinTokenOut(**row) for row in join_tokens.of_org(conn, admin.org_id)]


@router.delete("/{token_id}", status_code=204, responses=answers(*IN_ORG))
def revoke(token_id: Annotated[int, Path(ge=1, le=MAX_INT)], admin: Admin, ctl: Ctl) -> Response:
    with ctl.store.begin() as conn:
        if not join_tokens.remove(conn, admin.org_id, token_id=token_id):
            raise not_found("join token", token_id)
    return Response(status_code=204)
