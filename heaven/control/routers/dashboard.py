"""/api/v1/dashboard: the dashboard's view, once or as a live stream (Server-Sent Events).

The stream sends the whole view (``heaven.control.dashboard.collect``) whenever the
event log moved, looked at every ``TICK`` seconds, and at least every ``REFRESH``
seconds for the measured CPU figures that change without an event. Looking at the
event log, not at this process's memory, keeps the view true when another
controller of the same database made the change. The page reads the stream with
``fetch`` so that the token travels in the Authorization header, never in a URL.
"""
from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from heaven.control import dashboard
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.control.tokens import InvalidToken

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])
Ctl = Annotated[Controller, Depends(controller)]
TICK = 0.1
REFRESH = 2.0


def _view(ctl: Controller, scope, since: int | None) -> tuple[int, dict | None]:
    """(version, view); the view is None when the version is still ``since``."""
    with ctl.store.read() as conn:
        org_ids = scope.org_ids(conn)
        seen = dashboard.version(conn, org_ids)
        if seen == since:
            return seen, None
        return seen, dashboard.collect(conn, org_ids, ctl.clock())


def _still_valid(request: Request, token: str) -> bool:
    """The stream's token is checked again every REFRESH seconds, as a new request's would be."""
    try:
        request.app.state.auth.authenticate(token)
        return True
    except InvalidToken:
        return False


@router.get("", responses=answers(401))
def view(ctl: Ctl, scope: Scope) -> dict:
    """Cores, nodes, running and pending jobs, totals and recent activity of the caller's organizations."""
    return _view(ctl, scope, None)[1]


@router.get("/stream", responses=answers(401), response_class=StreamingResponse)
async def stream(request: Request, ctl: Ctl, scope: Scope) -> StreamingResponse:
    """``text/event-stream``: a ``view`` event with the whole view each time it changes."""

    token = request.headers.get("authorization", "").partition(" ")[2]

    async def events():
        seen, quiet = None, 0.0
        while not ctl.notifier.closed and not await request.is_disconnected():
            if quiet >= REFRESH and not await run_in_threadpool(_still_valid, request, token):
                return  # logged out, revoked or expired since the stream opened: it ends
            seen_now, body = await run_in_threadpool(_view, ctl, scope, None if quiet >= REFRESH else seen)
            if body is not None:
                seen, quiet = seen_now, 0.0
                yield f"event: view\nid: {seen}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"
            await asyncio.sleep(TICK)
            quiet += TICK

    # No buffering on the way (a proxy that buffers would hold every update back).
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
