"""/api/v1/dashboard: the dashboard's view, once or as a live stream (Server-Sent Events).

The stream sends the whole view (``heaven.control.dashboard.collect``) first, then a
``patch`` of only what changed (heaven.control.dashboard_patch) each time it changed.
It reads the view again when the change bell rang (``Controller.changes``: after every
commit that recorded an event, on this replica or, over LISTEN/NOTIFY, another), a few
ms later so that a burst of commits goes out as one patch (never sooner than ``MIN_GAP``
after its last read), and at least every
``REFRESH`` seconds for the measured CPU figures that change without an event. What it
sends is computed from the viewer's own view, so another organization's activity
sends nothing. The page reads the stream with ``fetch`` so that the token travels in
the Authorization header, never in a URL.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from heaven.control import dashboard, dashboard_patch
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.control.tokens import InvalidToken

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])
Ctl = Annotated[Controller, Depends(controller)]
REFRESH = 2.0
SETTLE = 0.005  # seconds: a submission and the cycle that places it land in one patch
KEEPALIVE = 15.0  # seconds without a change before the stream sends a comment
# Every commit of any organization rings the bell, and each stream then reads its whole view:
# a floor between two reads bounds that at what the 10 Hz polling it replaced cost.
MIN_GAP = 0.1


def _view(ctl: Controller, scope) -> dict:
    with ctl.store.read() as conn:
        return dashboard.collect(conn, scope.org_ids(conn), ctl.clock())


def _still_valid(request: Request, token: str) -> bool:
    """The stream's token is checked again every REFRESH seconds, as a new request's would be."""
    try:
        request.app.state.auth.authenticate(token)
        return True
    except InvalidToken:
        return False


def _message(kind: str, body: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"


@router.get("", responses=answers(401))
def view(ctl: Ctl, scope: Scope) -> dict:
    """Cores, nodes, running and pending jobs, totals and recent activity of the caller's organizations."""
    return _view(ctl, scope)


@router.get("/stream", responses=answers(401), response_class=StreamingResponse)
async def stream(request: Request, ctl: Ctl, scope: Scope) -> StreamingResponse:
    """``text/event-stream``: a ``view`` event with the whole view, then a ``patch`` event each time it changes."""

    token = request.headers.get("authorization", "").partition(" ")[2]

    async def events():
        bell, sent, checked = ctl.changes, None, time.monotonic()
        spoke, read_at = checked, 0.0
        while not bell.closed and not await request.is_disconnected():
            if time.monotonic() - checked >= REFRESH:
                if not await run_in_threadpool(_still_valid, request, token):
                    return  # logged out, revoked or expired since the stream opened: it ends
                checked = time.monotonic()
            if (early := MIN_GAP - (time.monotonic() - read_at)) > 0:
                await asyncio.sleep(early)
            rung = bell.rung  # before reading: a commit meanwhile still ends the wait below
            read_at = time.monotonic()
            view = await run_in_threadpool(_view, ctl, scope)
            if sent is None or not dashboard_patch.same_grid(sent, view):
                yield _message("view", view)
                spoke = time.monotonic()
            elif (patch := dashboard_patch.difference(sent, view)) is not None:
                yield _message("patch", patch)
                spoke = time.monotonic()
            elif time.monotonic() - spoke >= KEEPALIVE:
                yield ": nothing changed\n\n"  # a comment: proxies keep an idle stream open, the page skips it
                spoke = time.monotonic()
            sent = view
            await bell.wait_ring(rung, REFRESH, SETTLE)

    # No buffering on the way (a proxy that buffers would hold every update back).
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
