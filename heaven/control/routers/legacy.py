"""The original protocol at the root: /request, /complete, /summary (and /register, which
shares its path with people's registration and is dispatched in root_api.py).

Its programs and agents have no credentials, so whoever reaches these routes may
register a node or take cores. That is only safe where no one else can reach them:
by default they are served while the controller listens on loopback, and on any
other address only with HEAVEN_ORIGINAL_PROTOCOL=on (404 otherwise).
"""
from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from heaven.control import legacy_service
from heaven.control.deps import controller
from heaven.config import ControllerSettings
from heaven.control.errors import ApiError, answers
from heaven.control.runtime import Controller
from heaven.store import nodes
from heaven.wire.legacy import LegacyComplete, LegacyRequest


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def served(settings: ControllerSettings) -> bool:
    if settings.original_protocol == "auto":
        return is_loopback(settings.host)
    return settings.original_protocol == "on"


def check_served(ctl: Controller) -> None:
    """404 unless the original protocol is served on this controller's address."""
    if not served(ctl.settings):
        raise ApiError(404, "original_protocol_off",
                       f"the original protocol has no credentials and is not served on {ctl.settings.host} "
                       "(only on loopback); HEAVEN_ORIGINAL_PROTOCOL=on serves it on any address")


def _served_here(ctl: Annotated[Controller, Depends(controller)]) -> None:
    check_served(ctl)


router = APIRouter(tags=["original protocol"], dependencies=[Depends(_served_here)])
Ctl = Annotated[Controller, Depends(controller)]


@router.post("/request", responses=answers(400, 404, 422, 503))
async def request_cores(body: LegacyRequest, ctl: Ctl) -> dict:
    return await legacy_service.request(ctl, body)


@router.post("/complete", responses=answers(400, 404, 422))
def complete(body: LegacyComplete, ctl: Ctl, request: Request) -> dict:
    answer, released = legacy_service.complete(ctl, body)
    if released is not None:
        with ctl.store.read() as conn:
            node = nodes.get(conn, body.vm)
        request.app.state.legacy.released(node, body.job)
    return answer


@router.get("/summary", responses=answers(404))
def summary(ctl: Ctl) -> dict:
    return legacy_service.summary(ctl)
