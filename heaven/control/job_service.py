"""Use cases for jobs: submit (with admission), cancel. Each is one unit of work."""
from __future__ import annotations

from heaven.control.errors import ApiError
from heaven.control.runtime import Controller, NotPlaced
from heaven.control.scope import JobScope
from heaven.core.feasibility import never_fits
from heaven.core.model import Job
from heaven.core.states import HOLDING_JOB_STATES, TERMINAL_JOB_STATES, JobState
from heaven.store import clusters, jobs
from heaven.store.snapshot import load_nodes
from heaven.wire.api import JobSubmit


class NotPlaceable(ApiError):
    """--no-wait: the job cannot start now; nothing was written."""


def admit(conn, job: Job, nodes: list | None = None) -> None:
    """Refuse, before anything is written, a request no node could ever hold."""
    reason = never_fits(job, load_nodes(conn) if nodes is None else nodes)
    if reason is not None:
        status = 404 if reason.code == "unknown_node" else 422
        raise ApiError(status, reason.code, reason.message, reason.field)


def check_dependencies(conn, depends_on: list[dict], org_id: int) -> None:
    """Only existing jobs can be named, so a dependency cycle cannot be formed; and only
    jobs of the same organization (another's answers as if it did not exist)."""
    for dep in depends_on:
        row = jobs.get(conn, dep["job"])
        if row is None or row["org_id"] != org_id:
            field = "after" if dep["type"] == "afterok" else "after_any"
            raise ApiError(422, "unknown_dependency", f"{field}: job {dep['job']} does not exist", field)


def values_of(body: JobSubmit, org_id: int, owner_id: int | None) -> dict:
    """The job row a submission asks for, in the organization the caller's scope chose."""
    min_cores = body.min_cores if body.min_cores is not None else body.cores
    return {
        "org_id": org_id, "owner_id": owner_id, "name": body.name or body.command[0].rsplit("/", 1)[-1][:200], "kind": "batch", "command": body.command,
        "cores": body.cores, "min_cores": min_cores, "memory_mb": body.memory_mb, "storage_mb": body.storage_mb,
        "gpus": body.gpus, "priority": body.priority, "node_pin": body.node, "walltime": body.walltime,
        "cluster": body.cluster, "nodes": body.nodes, "docker_image": body.docker_image,
        "retry_memory": body.retry_memory,
        "depends_on": [{"job": j, "type": "afterok"} for j in body.after]
                      + [{"job": j, "type": "afterany"} for j in body.after_any],
    }


def as_core_job(values: dict) -> Job:
    return Job(0, cores=values["cores"], memory_mb=values["memory_mb"], storage_mb=values["storage_mb"],
               gpus=values["gpus"], node=values.get("node_pin"), cluster=values.get("cluster"),
               nodes=values.get("nodes", 1))


def check_cluster(conn, values: dict) -> None:
    """A job may name only a cluster of its own organization: another's answers 404 exactly
    as a cluster that does not exist."""
    name = values.get("cluster")
    if name is not None and not clusters.exists(conn, values["org_id"], name):
        raise ApiError(404, "not_found", f"cluster: cluster {name} does not exist", "cluster")


def insert_checked(conn, values: dict, nodes: list, now: float, actor: str) -> dict:
    """Cluster, admission, dependencies, insert: raises ApiError before writing anything."""
    check_cluster(conn, values)
    admit(conn, as_core_job(values), nodes)
    check_dependencies(conn, values.get("depends_on", []), values["org_id"])
    return jobs.insert_job_row(conn, values, now, actor=actor)


async def submit_now(ctl: Controller, values: dict, actor: str = "api") -> int:
    """``--no-wait``: the scheduler loop writes the job and runs a cycle in one
    transaction, rolled back whole when the job could not start now (a 409)."""

    def write(conn) -> int:
        return insert_checked(conn, values, load_nodes(conn), ctl.clock(), actor)["id"]
    try:
        return await ctl.decide(write, keep=False)
    except NotPlaced as refused:
        reason = refused.reason
        raise NotPlaceable(409, reason.code if reason else "not_placeable", str(refused),
                           reason.field if reason else None) from None


def cancel(ctl: Controller, scope: JobScope, job_id: int, actor: str = "api") -> dict:
    with ctl.store.begin() as conn:
        row = scope.manageable(conn, job_id, "cancel")  # inside the write: a role just taken away counts
        state = JobState(row["state"])
        if state in TERMINAL_JOB_STATES:
            raise ApiError(409, "already_finished", f"job {job_id} already ended ({state})", "id")
        held_on = jobs.nodes_of(conn, job_id)
        jobs.transition(conn, job_id, state, JobState.CANCELLED, ctl.clock(), detail="cancelled by request",
                        actor=actor, node=row["node"])
        row = jobs.get(conn, job_id)
    if state == JobState.SUSPENDED:
        ctl.notifier.touch([row["node"]])  # its agent thaws and stops the frozen process
    if state in HOLDING_JOB_STATES:
        ctl.notifier.touch(held_on)  # their agents stop the processes
        ctl.wake()  # its cores are free for the queue
    return row
