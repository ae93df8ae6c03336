"""The original protocol at the root: /register, /request, /complete, /summary."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from heaven.control import legacy_service
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.store import nodes
from heaven.wire.legacy import LegacyComplete, LegacyRegister, LegacyRequest

router = APIRouter(tags=["original protocol"])
Ctl = Annotated[Controller, Depends(controller)]


@router.post("/register", responses=answers(409, 422))
def register(body: LegacyRegister, ctl: Ctl) -> dict:
    return legacy_service.register(ctl, body)


@router.post("/request", responses=answers(400, 404, 422, 503))
async def request_cores(body: LegacyRequest, ctl: Ctl) -> dict:
    return await legacy_service.request(ctl, body)


@router.post("/complete", responses=answers(400, 422))
def complete(body: LegacyComplete, ctl: Ctl, request: Request) -> dict:
    answer, released = legacy_service.complete(ctl, body)
    if released is not None:
        with ctl.store.read() as conn:
            node = nodes.get(conn, body.vm)
        request.app.state.legacy.released(node, body.job)
    return answer


@router.get("/summary")
def summary(ctl: Ctl) -> dict:
    return legacy_service.summary(ctl)
