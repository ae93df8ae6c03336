"""The original controller's protocol over the same store and core.

Answers keep the original shapes (``{"ok": true}``, ``{"status": "queued"}``,
``{"ok": true, "freed": [...]}``); errors carry both the original keys and the
product's ``{"error", "message", "field"}``.
"""
from __future__ import annotations

import asyncio
import time

from fastapi.concurrency import run_in_threadpool

from heaven.control.agent_service import register_node
from heaven.control.errors import ApiError
from heaven.control.job_service import admit
from heaven.control.runtime import Controller
from heaven.control.summary import collect
from heaven.core.model import Job
from heaven.core.states import JobState
from heaven.store import events, jobs, nodes
from heaven.store.engine import default_org_id
from heaven.wire.legacy import LegacyComplete, LegacyRegister, LegacyRequest


def _unknown_agent() -> ApiError:
    return ApiError(400, "unknown_node", "unknown agent", "vm", extra={"status": "error"})


def register(ctl: Controller, body: LegacyRegister) -> dict:
    with ctl.store.begin() as conn:
        known = nodes.get(conn, body.vm_name)
        if known is not None and body.total_cores is None:
            nodes.heartbeat(conn, body.vm_name, ctl.clock(), actor=f"agent:{body.vm_name}")
            return {"ok": True}
    if body.total_cores is None:
        raise ApiError(422, "invalid_input", "total_cores: is required to register a new node", "total_cores")
    kind = known["kind"] if known else "legacy"
    local = known["local_cores"] if known and len(known["local_cores"]) == body.total_cores else list(range(body.total_cores))
    values = {"name": body.vm_name, "endpoint": body.endpoint or "", "kind": kind, "local_cores": local}
    if known is None:
        values.update(reserved=[], memory_mb=0, storage_mb=0, gpus=0, cluster="default")
    register_node(ctl, values, body.core_offset, actor=f"agent:{body.vm_name}")
    return {"ok": True}


async def request(ctl: Controller, body: LegacyRequest) -> dict:
    """A program asks cores for its own PID. As the original controller did, it hears
    "allocated" only once its agent has pinned the PID (the job is running); until
    then, or if that takes longer than ``legacy_timeout``, it hears "queued" and
    finds its allocation in /summary once pinned."""
    def write(conn) -> int:
        """The job this request is about: the one it asked for before (a repeat), or a new one."""
        if nodes.get(conn, body.vm) is None:
            raise _unknown_agent()
        current = jobs.find_adopted(conn, body.vm, body.job)
        if current is not None and (current["state"] == JobState.PENDING.value or (
                current["pid"] == body.pid and current["state"] in jobs.HOLDING_STATE_VALUES)):
            return current["id"]  # still queued, or already placed for this very PID
        admit(conn, Job(0, cores=body.cores_requested, node=body.vm))
        return jobs.insert_job(conn, {
            "org_id": default_org_id(conn), "name": body.job, "kind": "adopted", "command": [],
            "cores": body.cores_requested, "min_cores": body.cores_requested, "memory_mb": 0, "storage_mb": 0,
            "gpus": 0, "priority": 0, "node_pin": body.vm, "pid": body.pid, "pids": [body.pid],
        }, ctl.clock(), actor=f"pid:{body.pid}")
    job_id = await ctl.decide(write, keep=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctl.settings.legacy_timeout
    while True:
        change = ctl.watchers.watch(job_id)  # before reading: a change in between still wakes us
        try:
            state, cores = await run_in_threadpool(_state_and_cores, ctl, job_id)
            if state == JobState.RUNNING.value:
                return {"status": "allocated", "cores": cores}
            if state != JobState.ASSIGNED.value or loop.time() >= deadline:
                return {"status": "queued"}
            await asyncio.wait({change}, timeout=deadline - loop.time())
        finally:
            ctl.watchers.forget(job_id, change)


def _state_and_cores(ctl: Controller, job_id: int) -> tuple[str, list[int]]:
    with ctl.store.read() as conn:
        return jobs.get(conn, job_id)["state"], jobs.claims_of(conn, [job_id])[job_id]


def complete(ctl: Controller, body: LegacyComplete) -> tuple[dict, dict | None]:
    """Returns the answer and, when cores were freed, the job row (for the agent release)."""
    with ctl.store.begin() as conn:
        row = jobs.find_adopted(conn, body.vm, body.job)
        if row is None:
            raise ApiError(400, "not_allocated", "not allocated", "job", extra={"ok": False})
        state = JobState(row["state"])
        if state == JobState.RUNNING:
            freed = jobs.claims_of(conn, [row["id"]])[row["id"]]
            jobs.finish(conn, row["id"], 0, ctl.clock(), actor=f"pid:{row['pid']}")
        elif state == JobState.ASSIGNED:  # done before its agent pinned it: it never ran with those cores
            freed = jobs.claims_of(conn, [row["id"]])[row["id"]]
            jobs.transition(conn, row["id"], state, JobState.CANCELLED, ctl.clock(), detail="completed before it was pinned",
                            actor=f"pid:{row['pid']}", node=body.vm)
        elif state == JobState.PENDING:
            freed = []
            jobs.transition(conn, row["id"], state, JobState.CANCELLED, ctl.clock(), detail="completed while queued",
                            actor=f"pid:{row['pid']}", node=body.vm)
        else:
            return {"ok": True, "freed": []}, None  # completing twice is harmless
    ctl.wake()
    ctl.notifier.touch([body.vm])
    return {"ok": True, "freed": freed}, (row if freed else None)


def _activity_line(e: dict) -> str:
    who = f" job {e['job']}" if e["job"] is not None else ""
    where = f"@{e['node']}" if e["node"] else ""
    detail = f": {e['detail']}" if e["detail"] else ""
    return f"[{time.strftime('%H:%M:%S', time.localtime(e['ts']))}] {e['action']}{who}{where}{detail}"


def summary(ctl: Controller) -> dict:
    with ctl.store.read() as conn:
        data = collect(conn)
        recent = events.since(conn, 0, limit=200, newest_first=True)
    data["activity"] = [_activity_line(e) for e in recent]
    data["scheduler"] = {"cycles": ctl.cycles, "last": ctl.last_counts}
    return data
