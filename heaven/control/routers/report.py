"""/api/v1/report: accounting over a period (heaven.control.accounting), of the caller's
organizations only, as every other route."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from heaven.control import accounting
from heaven.control.deps import controller
from heaven.control.errors import ApiError, answers
from heaven.control.runtime import Controller
from heaven.control.scope import Scope
from heaven.store import accounting as history
from heaven.wire.report import ReportOut

router = APIRouter(prefix="/api/v1/report", tags=["report"])
Ctl = Annotated[Controller, Depends(controller)]
Epoch = Annotated[float | None, Query(ge=0, le=1e11, allow_inf_nan=False, description="epoch seconds")]


@router.get("", response_model=ReportOut, responses=answers(401, 422))
def report(ctl: Ctl, scope: Scope, since: Epoch = None, until: Epoch = None) -> dict:
    """Requested vs allocated vs used core-seconds, MB-seconds and peak memory, lending and
    give-back, per job, person and organization, over [since, until) (default: from the start
    until now). Used figures are those of the measured runs (``measured_runs``), null if none."""
    until = ctl.clock() if until is None else until
    since = 0.0 if since is None else since
    if since > until:
        raise ApiError(422, "invalid_input", f"since: must not be after until ({until})", "since")
    with ctl.store.read() as conn:
        org_ids = scope.org_ids(conn)
        rows, by_job = history.history(conn, org_ids, since, until)
        org_names, users = history.names(conn, org_ids, {r["owner_id"] for r in rows if r["owner_id"] is not None})
    figures = [accounting.job_figures(r, by_job[r["id"]], since, until, org_names.get(r["org_id"], str(r["org_id"])),
                                      users.get(r["owner_id"])) for r in rows]
    return accounting.report(figures, since, until, list(org_names.values()))
