"""The agent's own HTTP endpoints.

- ``/allocate``, ``/release``, ``/status``: the original agent protocol (cores as
  global indices), so the original controller can drive this agent unchanged.
- ``/jobs/{id}/logs``: job output, which the controller's API streams to users. Only
  the controller may read it: it presents the key this agent chose when it joined
  (Authorization: Bearer); anyone else gets a 401. The original agent protocol above
  has no credentials (the original controller sends none), so it stays open.
- ``/cpus/{cpu}/release``: a VM node's host side asks for a vCPU before it unplugs it
  (heaven.vm.scaler); it presents HEAVEN_AGENT_HOST_KEY. Answered once the CPU is off
  every job (the controller shrank them) and offline.
"""
from __future__ import annotations

import hmac

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Path, Query
from fastapi.responses import FileResponse, PlainTextResponse

from heaven.agent.capacity import ReleaseRefused
from heaven.agent.executor import ExecError
from heaven.agent.runtime import Agent
from heaven.wire.legacy import LegacyAllocate, LegacyRelease


def create_agent_app(agent: Agent) -> FastAPI:
    app = FastAPI(title=f"Hot-Plug Heaven agent {agent.name}")
    by_name: dict[str, int] = {}  # original-protocol job names -> executor ids (negative: never the controller's)

    def to_local(cores: list[int]) -> list[int]:
        offset = agent.core_offset or 0
        if any(not 0 <= c - offset < len(agent.local_cores) for c in cores):
            raise HTTPException(422, f"cores must lie in {offset}..{offset + len(agent.local_cores) - 1}")
        return [agent.local_cores[c - offset] for c in cores]

    @app.post("/allocate")
    def allocate(body: LegacyAllocate) -> dict:
        job_id = by_name.setdefault(body.job, -(len(by_name) + 1))
        try:
            if job_id in agent.executor.jobs():
                agent.executor.set_cores(job_id, to_local(body.cores))
            else:
                agent.executor.adopt(job_id, body.pid, to_local(body.cores))
        except ExecError as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"ok": True}

    @app.post("/release")
    def release(body: LegacyRelease) -> dict:
        job_id = by_name.get(body.job)
        if job_id is None or job_id not in agent.executor.jobs():
            return {"ok": True}
        if body.keep_cores:
            agent.executor.set_cores(job_id, to_local(body.keep_cores))
        else:
            agent.executor.stop(job_id)
            by_name.pop(body.job, None)
        return {"ok": True}

    @app.get("/status")
    def status() -> dict:
        names = {v: k for k, v in by_name.items()}
        offset = agent.core_offset or 0
        out = []
        for job_id, running in agent.executor.jobs().items():
            sample = agent.telemetry.sample_job(job_id, agent.executor.pids(job_id))
            out.append({"job": names.get(job_id, str(job_id)), "pid": running.pid,
                        "cores": [offset + agent.local_cores.index(c) for c in running.local_cores],
                        "cpu_percent": sample["cpu_percent"]})
        return {"jobs": out}

    def controller_only(authorization: str | None = Header(None)) -> None:
        presented = (authorization or "").removeprefix("Bearer ")
        if not hmac.compare_digest(presented.encode(), agent.agent_key.encode()):
            raise HTTPException(401, "this needs the key the agent gave the controller (Authorization: Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/jobs/{job_id}/logs", dependencies=[Depends(controller_only)])
    def logs(job_id: int, stream: str = Query("stdout", pattern="^(stdout|stderr)$")):
        path = agent.executor.log_file(job_id, stream)
        if not path.exists():
            raise HTTPException(404, f"no {stream} for job {job_id}")
        return FileResponse(path, media_type="text/plain")

    def host_side_only(authorization: str | None = Header(None)) -> None:
        key = agent.settings.host_key.get_secret_value() if agent.settings.host_key else ""
        presented = (authorization or "").removeprefix("Bearer ")
        if not key or not hmac.compare_digest(presented.encode(), key.encode()):
            raise HTTPException(401, "this needs the VM host's key (HEAVEN_AGENT_HOST_KEY, Authorization: Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.post("/cpus/plugging", dependencies=[Depends(host_side_only)])
    def plugging(reason: str = Body("", embed=True, max_length=300)) -> dict:
        """The host side is about to plug a vCPU, for this reason (recorded with the capacity)."""
        if agent.capacity is None:
            raise HTTPException(409, "this agent does not manage hot-plugged CPUs (HEAVEN_AGENT_HOTPLUG)")
        agent.capacity.next_reason = reason
        # Whatever it plugs is a new vCPU, even if it has the number of one released before
        # (the agent may not have seen that one vanish yet).
        agent.capacity.hotplug.leaving.clear()
        return {"ok": True}

    @app.post("/cpus/{cpu}/release", dependencies=[Depends(host_side_only)])
    async def release_cpu(cpu: int = Path(ge=0, le=4095),
                          reason: str = Body("", embed=True, max_length=300)) -> dict:
        if agent.capacity is None:
            raise HTTPException(409, "this agent does not manage hot-plugged CPUs (HEAVEN_AGENT_HOTPLUG)")
        try:
            cores = await agent.capacity.release(cpu, reason)
        except ReleaseRefused as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        return {"cpu": cpu, "offline": True, "local_cores": cores}

    @app.get("/health")
    def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app
