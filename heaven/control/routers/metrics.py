"""/metrics: Prometheus' text format (prometheus-client), for a signed-in caller.

Prometheus sends the token as ``authorization: {credentials: ...}`` in its scrape
config. The scheduler's own figures (cycle time, placements, steals, grows,
preemptions, API latency) are the whole controller's; jobs, cores and agents are
those of the caller's organizations only.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.control.scope import Scope

router = APIRouter(tags=["metrics"])
Ctl = Annotated[Controller, Depends(controller)]


@router.get("/metrics", response_class=Response, responses=answers(401))
def metrics(request: Request, ctl: Ctl, scope: Scope) -> Response:
    with ctl.store.read() as conn:
        body = ctl.metrics.exposition(conn, scope.org_ids(conn), ctl.clock())
    return Response(body, media_type=CONTENT_TYPE_LATEST)
