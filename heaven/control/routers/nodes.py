"""/api/v1/nodes: list and show the nodes of the caller's organizations (another
organization's node answers 404, as a missing one); the agents' own calls live in agents.py."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from heaven.control.convert import nodes_out
from heaven.control.deps import controller
from heaven.control.errors import answers, not_found
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.wire.api import NodeOut
from heaven.wire.fields import Name

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])
Ctl = Annotated[Controller, Depends(controller)]


@router.get("", response_model=list[NodeOut], responses=answers(401))
def listing(ctl: Ctl, scope: Scope) -> list[NodeOut]:
    with ctl.store.read() as conn:
        return nodes_out(conn, org_ids=scope.org_ids(conn))


@router.get("/{name}", response_model=NodeOut, responses=answers(401, 404, 422))
def show(name: Annotated[Name, Path()], ctl: Ctl, scope: Scope) -> NodeOut:
    for node in listing(ctl, scope):
        if node.name == name:
            return node
    raise not_found("node", name)
