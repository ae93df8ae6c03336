"""/api/v1/nodes: list and show the nodes of the caller's organizations (another
organization's node answers 404, as a missing one); the agents' own calls live in agents.py."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from heaven.control.convert import nodes_out
from heaven.control.deps import controller
from heaven.control.errors import answers, not_found
from heaven.control.pages import PAGED, ContinueToken, decode, mark_next
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.wire.api import NodeOut
from heaven.wire.fields import Name

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])
Ctl = Annotated[Controller, Depends(controller)]


@router.get("", response_model=list[NodeOut], responses={200: PAGED, **answers(400, 401, 422)})
def listing(request: Request, response: Response, ctl: Ctl, scope: Scope,
            limit: Annotated[int, Query(ge=1, le=10000)] = 10000, cursor: ContinueToken = None) -> list[NodeOut]:
    """The nodes of the caller's organizations by core offset, ``limit`` a page (see X-Continue)."""
    after = decode("nodes", cursor)
    with ctl.store.read() as conn:
        every = nodes_out(conn, org_ids=scope.org_ids(conn))
    # Nodes are few (thousands at most) and already read in core-offset order: the page is cut here.
    page = [n for n in every if after is None or n.core_offset > after][:limit]
    return mark_next(request, response, "nodes", page, limit, lambda n: n.core_offset)


@router.get("/{name}", response_model=NodeOut, responses=answers(401, 404, 422))
def show(name: Annotated[Name, Path()], ctl: Ctl, scope: Scope) -> NodeOut:
    with ctl.store.read() as conn:
        every = nodes_out(conn, org_ids=scope.org_ids(conn))
    for node in every:
        if node.name == name:
            return node
    raise not_found("node", name)
