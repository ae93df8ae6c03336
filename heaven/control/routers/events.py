"""/api/v1/events: the event log, by sequence number."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.store import events
from heaven.wire.api import EventOut
from heaven.wire.fields import Id, Seq

router = APIRouter(prefix="/api/v1/events", tags=["events"])
Ctl = Annotated[Controller, Depends(controller)]


@router.get("", response_model=list[EventOut], responses=answers(401, 422))
def since(ctl: Ctl, scope: Scope, after: Annotated[Seq, Query()] = 0, limit: Annotated[int, Query(ge=1, le=10000)] = 500,
          job: Annotated[Id | None, Query()] = None) -> list[EventOut]:
    with ctl.store.read() as conn:
        # The events of the caller's organizations only: another's jobs and nodes stay unseen.
        return [EventOut(**e) for e in events.since(conn, after, limit, job, org_ids=scope.org_ids(conn))]
