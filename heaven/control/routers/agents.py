"""/api/v1/agents: what the controller's own agents call, authenticated as nodes
(heaven.control.node_auth): register with a join token, the rest with the node credential."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from heaven.control import agent_service, capacity_service
from heaven.control.deps import controller
from heaven.control.errors import answers
from heaven.control.node_auth import JoiningOrg, ThisNode
from heaven.control.runtime import Controller
from heaven.wire.agent import AgentCores, AgentRegister, AgentReport, Assignments
from heaven.wire.fields import Generation

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
Ctl = Annotated[Controller, Depends(controller)]
MAX_WAIT = 30  # seconds a long-poll may be held; agents ask for 25


@router.post("/register", responses=answers(401, 409, 422))
def register(body: AgentRegister, joining: JoiningOrg, ctl: Ctl) -> dict:
    """Join the join token's organization (and its cluster, if it names one); ``credential``
    (answered once) authenticates every later call."""
    row, credential = agent_service.register_agent(ctl, body, joining)
    return {"name": row["name"], "core_offset": row["core_offset"], "reserved": row["reserved"],
            "cluster": row["cluster"], "credential": credential}


@router.post("/{name}/report", responses=answers(401, 404, 422))
def report(name: ThisNode, body: AgentReport, ctl: Ctl) -> dict:
    agent_service.report(ctl, name, body)
    return {"ok": True}


@router.put("/{name}/cores", responses=answers(401, 404, 409, 422))
def cores(name: ThisNode, body: AgentCores, ctl: Ctl) -> dict:
    """The node's CPUs now (vCPUs plugged, or about to be unplugged: those are first shrunk
    off the jobs holding them). Answers the node's cores as the controller counts them."""
    row = capacity_service.change_cores(ctl, name, body.local_cores, body.reason)
    return {"name": row["name"], "core_offset": row["core_offset"], "local_cores": row["local_cores"],
            "max_cores": row["max_cores"]}


@router.get("/{name}/assignments", response_model=Assignments, responses=answers(401, 404, 422))
async def assignments(name: ThisNode, ctl: Ctl, generation: Annotated[Generation, Query()] = -1,
                      wait: Annotated[float, Query(ge=0, le=MAX_WAIT, allow_inf_nan=False)] = 0) -> Assignments:
    """Long-poll: answers at once when ``generation`` is stale, else when it changes or after ``wait`` s."""
    current = await ctl.notifier.wait(name, generation, wait) if wait else ctl.notifier.generation(name)
    jobs = await run_in_threadpool(agent_service.assignments, ctl, name)
    return Assignments(generation=current, jobs=jobs)
