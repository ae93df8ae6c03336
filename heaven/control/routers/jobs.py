"""/api/v1/jobs: submit, list, show, cancel, logs.

Every route takes the caller's ``Scope`` (heaven.control.scope), which alone decides
which jobs they see (their organizations') and which they may cancel or read logs of.
"""
from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from heaven.control import job_service
from heaven.control.convert import job_out, jobs_out
from heaven.control.deps import controller
from heaven.control.errors import ApiError, answers
from heaven.control.pages import PAGED, ContinueToken, decode, mark_next
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.core.states import JobState
from heaven.store import jobs, nodes
from heaven.wire.api import JobOut, JobSubmit
from heaven.wire.fields import ByteOffset, Id, check_endpoint

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Ctl = Annotated[Controller, Depends(controller)]
STATES = [s.value for s in JobState]
JobId = Annotated[Id, Path()]


@router.post("", status_code=201, response_model=JobOut, responses=answers(401, 403, 404, 409, 422, 503))
async def submit(body: JobSubmit, request: Request, ctl: Ctl, scope: Scope) -> JobOut:
    """A batch job owned by the caller, in ``org`` (a name or an id; default: their only or first one)."""
    # Only an organization given by name needs the store (a worker thread); the caller's own
    # organizations came with their token.
    by_name = body.org is not None and not body.org.isdecimal()
    org_id = await run_in_threadpool(scope.org_for_submit, ctl.store.read, body.org) if by_name else \
        scope.org_for_submit(ctl.store.read, body.org)
    values = job_service.values_of(body, org_id, scope.caller.person_id)
    if body.no_wait:  # the scheduler loop decides, in its own transaction
        job_id = await job_service.submit_now(ctl, values)
        return await run_in_threadpool(show, job_id, ctl, scope)
    row = await request.app.state.submits.submit(values, "api")
    return job_out(row)


@router.get("", response_model=list[JobOut], responses={200: PAGED, **answers(400, 401, 422)})
def listing(request: Request, response: Response, ctl: Ctl, scope: Scope,
            state: Annotated[list[str] | None, Query()] = None,
            limit: Annotated[int, Query(ge=1, le=10000)] = 200, cursor: ContinueToken = None) -> list[JobOut]:
    """The jobs of the caller's organizations, newest first, ``limit`` a page (see X-Continue)."""
    for s in state or []:
        if s not in STATES:
            raise ApiError(422, "invalid_input", f"state: must be one of {', '.join(STATES)}", "state")
    before = decode("jobs", cursor)
    with ctl.store.read() as conn:
        page = jobs_out(conn, jobs.listing(conn, state, limit, org_ids=scope.org_ids(conn), before=before))
    return mark_next(request, response, "jobs", page, limit, lambda j: j.id)


@router.get("/{job_id}", response_model=JobOut, responses=answers(401, 404, 422))
def show(job_id: JobId, ctl: Ctl, scope: Scope) -> JobOut:
    with ctl.store.read() as conn:
        return jobs_out(conn, [scope.visible(conn, job_id)])[0]


@router.post("/{job_id}/cancel", response_model=JobOut, responses=answers(401, 403, 404, 409, 422))
def cancel(job_id: JobId, ctl: Ctl, scope: Scope) -> JobOut:
    """Only the job's owner or an admin of its organization may."""
    job_service.cancel(ctl, scope, job_id)
    return show(job_id, ctl, scope)


@router.get("/{job_id}/logs", response_class=PlainTextResponse, responses=answers(401, 403, 404, 409, 422, 502))
def logs(job_id: JobId, ctl: Ctl, scope: Scope, stream: Annotated[str, Query(pattern="^(stdout|stderr)$")] = "stdout",
         offset: Annotated[ByteOffset, Query()] = 0) -> str:
    """The job's output, fetched from the agent that ran it (its owner or an admin of its organization)."""
    with ctl.store.read() as conn:
        row = scope.manageable(conn, job_id, "read the logs of")
        node = nodes.get(conn, row["node"]) if row["node"] else None
    if node is None or node["kind"] != "heaven":
        raise ApiError(409, "no_logs", f"job {job_id} has no logs yet (state {row['state']})", "id")
    try:  # registration checks endpoints; this also covers "" (no agent API) and rows stored before it did
        endpoint = check_endpoint(node["endpoint"])
    except ValueError:
        raise ApiError(409, "no_logs", f"node {node['name']} has no agent API to fetch logs from "
                                       f"(endpoint {node['endpoint']!r})", "node") from None
    try:
        # The key the agent chose when it joined: its API answers no one else.
        key = {"Authorization": f"Bearer {node['agent_key']}"} if node["agent_key"] else {}
        answer = httpx.get(f"{endpoint}/jobs/{job_id}/logs", params={"stream": stream, "offset": offset},
                           headers=key, timeout=5)
    except httpx.HTTPError as exc:
        raise ApiError(502, "agent_unreachable", f"agent {node['name']} did not answer: {exc}", "node") from exc
    if answer.status_code != 200:
        raise ApiError(404, "no_logs", f"agent {node['name']} has no logs for job {job_id}", "id")
    return answer.text
