"""/api/v1/agents: what the controller's own agents call."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from heaven.control import agent_service
from heaven.control.deps import controller
from heaven.control.runtime import Controller
from heaven.wire.agent import AgentRegister, AgentReport, Assignments

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
Ctl = Annotated[Controller, Depends(controller)]


@router.post("/register")
def register(body: AgentRegister, ctl: Ctl) -> dict:
    row = agent_service.register_agent(ctl, body)
    return {"name": row["name"], "core_offset": row["core_offset"], "reserved": row["reserved"]}


@router.post("/{name}/report")
def report(name: str, body: AgentReport, ctl: Ctl) -> dict:
    agent_service.report(ctl, name, body)
    return {"ok": True}


@router.get("/{name}/assignments", response_model=Assignments)
async def assignments(name: str, ctl: Ctl, generation: Annotated[int, Query()] = -1,
                      wait: Annotated[float, Query(ge=0, le=30)] = 0) -> Assignments:
    """Long-poll: answers at once when ``generation`` is stale, else when it changes or after ``wait`` s."""
    current = await ctl.notifier.wait(name, generation, wait) if wait else ctl.notifier.generation(name)
    jobs = await run_in_threadpool(agent_service.assignments, ctl, name)
    return Assignments(generation=current, jobs=jobs)
