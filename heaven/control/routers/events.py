"""/api/v1/events: the event log, by sequence number."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.pages import PAGED, ContinueToken, decode, mark_next
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.store import events
from heaven.wire.api import EventOut
from heaven.wire.fields import Id, Seq

router = APIRouter(prefix="/api/v1/events", tags=["events"])
Ctl = Annotated[Controller, Depends(controller)]


@router.get("", response_model=list[EventOut], responses={200: PAGED, **answers(400, 401, 422)})
def since(request: Request, response: Response, ctl: Ctl, scope: Scope, after: Annotated[Seq, Query()] = 0,
          limit: Annotated[int, Query(ge=1, le=10000)] = 500, job: Annotated[Id | None, Query()] = None,
          cursor: ContinueToken = None) -> list[EventOut]:
    """Oldest first, after ``after``; a page is ``limit`` events (see X-Continue)."""
    after = max(after, decode("events", cursor) or 0)
    with ctl.store.read() as conn:
        # The events of the caller's organizations only: another's jobs and nodes stay unseen.
        page = [EventOut(**e) for e in events.since(conn, after, limit, job, org_ids=scope.org_ids(conn))]
    return mark_next(request, response, "events", page, limit, lambda e: e.seq)
