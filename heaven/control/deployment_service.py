"""Use cases for deployments, shared by the product API (/api/v1/deployments) and the root
API of the deployment service this product replaces (/deployments/).

A deployment is a job of kind ``service``, created held: the scheduler does not see it
until someone starts it. Its rules live here once:

- ``status_of``: the one derivation of pending / running / completed / failed / cancelled
  from the job's state. ``books=True`` is the root API's view: a started deployment holds
  its resources in the cluster's books (clusters.booked) and is ``running`` there even
  while no node runs it yet, as that service (which kept books only) answered; the
  product's view says ``pending`` until a node runs it.
- ``check_dependencies``: same organization and cluster, not itself, no cycle, and a
  deployment may not depend on a pending one of lower priority.
- start: only a pending (held) deployment, with every dependency completed and its
  resources free against the cluster's quota (clusters.booked). Start and stop go through
  the scheduler loop's ``decide`` (the one writer), so two starts cannot both take the
  last free core, and the cycle that follows places what was started.
- stop (as completed or failed), or a clean exit of its process, frees its resources and starts every
  held dependent whose dependencies have now all completed and whose resources are free.

Errors use the product's field names (cores, memory_mb, gpus, cluster, after); the root
adapter renames them. Conflicts with the current state are 409, invalid requests 422.
"""
from __future__ import annotations

from heaven.control import job_service
from heaven.control.errors import ApiError, not_found
from heaven.control.runtime import Controller
from heaven.control.scope import JobScope
from heaven.core.model import Job
from heaven.core.states import HOLDING_JOB_STATES, JobState
from heaven.store import clusters, deployments, jobs
from heaven.store.apply import lock_core_map
from heaven.store.deployments import KIND, dependency_ids
from heaven.store.snapshot import load_nodes

J = JobState
_ENDED = {J.SUCCEEDED.value: "completed", J.FAILED.value: "failed", J.CANCELLED.value: "cancelled"}
_ON_NODE = {s.value for s in HOLDING_JOB_STATES}
DEFAULT_CLUSTER = "default"  # nodes join it when they name none; it needs no clusters row


def status_of(row: dict, books: bool = False) -> str:
    """The deployment's status, derived from its job's state (the only place that does)."""
    state = row["state"]
    if state in _ENDED:
        return _ENDED[state]
    if state in _ON_NODE:
        return "running"
    # pending (or passing through preempted/lost back to pending): held, or started and waiting
    return "running" if books and not row["held"] else "pending"


def visible(conn, scope: JobScope, job_id: int) -> dict:
    return scope.visible(conn, job_id, KIND)


def manageable(conn, scope: JobScope, job_id: int, action: str) -> dict:
    return scope.manageable(conn, job_id, action, KIND)


def cluster_named(conn, org_id: int, name: str) -> None:
    """A deployment runs in a cluster its organization has (or the default one)."""
    if name != DEFAULT_CLUSTER and clusters.get(conn, org_id, name) is None:
        raise ApiError(404, "not_found", f"cluster {name} does not exist", "cluster")


def check_dependencies(conn, scope: JobScope, row: dict, after: list[int]) -> None:
    """``row`` (its org_id, cluster, priority, and id once it exists) may depend on ``after``."""
    if len(set(after)) != len(after):
        raise ApiError(422, "invalid_input", "after: names a deployment twice", "after")
    if row.get("id") in after:
        raise ApiError(422, "self_dependency", f"after: deployment {row['id']} cannot depend on itself", "after")
    for dep_id in after:
        dep = deployments.get(conn, dep_id)
        if dep is None or not scope.member_of(conn, dep["org_id"]) or dep["org_id"] != row["org_id"]:
            raise ApiError(404, "not_found", f"after: deployment {dep_id} does not exist", "after")
        if dep["cluster"] != row["cluster"]:
            raise ApiError(422, "other_cluster", f"after: deployment {dep_id} is in cluster {dep['cluster']}, "
                                                 f"not {row['cluster']}: dependencies stay in one cluster", "after")
        if dep["state"] == J.PENDING.value and dep["priority"] < row["priority"]:
            raise ApiError(422, "lower_priority_dependency",
                           f"after: deployment {dep_id} is pending with priority {dep['priority']}, lower than "
                           f"{row['priority']}: a deployment may not wait for a pending one of lower priority",
                           "after")
    if row.get("id") is not None:
        _no_cycle(conn, row["id"], after)


def _no_cycle(conn, job_id: int, after: list[int]) -> None:
    """Walk the dependencies of ``after``: reaching ``job_id`` again closes a cycle."""
    seen, todo = set(), list(after)
    while todo:
        current = todo.pop()
        if current == job_id:
            raise ApiError(422, "circular_dependency", f"after: deployment {job_id} would depend on itself "
                                                       "through its dependencies", "after")
        if current in seen:
            continue
        seen.add(current)
        dep = deployments.get(conn, current)
        todo.extend(dependency_ids(dep) if dep else [])


def _admit(conn, values: dict) -> None:
    """Refuse a request no node of its cluster could ever hold (with no nodes yet: accepted)."""
    job = Job(0, cores=values["cores"], min_cores=values["cores"], memory_mb=values["memory_mb"],
              gpus=values["gpus"], cluster=values["cluster"], org=values["org_id"])
    job_service.admit(conn, job, load_nodes(conn))


def create(ctl: Controller, scope: JobScope, values: dict, after: list[int], actor: str = "api") -> dict:
    """``values``: org_id (the caller's scope chose it), cluster, name, command, docker_image,
    cores, memory_mb, gpus, priority. Inserted held, with its ``submit`` event."""
    with ctl.store.begin() as conn:
        if not scope.member_of(conn, values["org_id"]):
            raise not_found("organization", values["org_id"])
        cluster_named(conn, values["org_id"], values["cluster"])
        check_dependencies(conn, scope, values, after)
        _admit(conn, values)
        row = {**values, "kind": KIND, "owner_id": scope.caller.person_id, "min_cores": values["cores"], "storage_mb": 0,
               "command": values.get("command") or [], "held": True,
               "depends_on": [{"job": d, "type": "afterok"} for d in after]}
        return jobs.insert_job_row(conn, row, ctl.clock(), actor=actor)


def update(ctl: Controller, scope: JobScope, job_id: int, changes: dict, after: list[int] | None,
           actor: str = "api") -> dict:
    """Change a deployment that was not started yet (a started one holds resources as asked)."""
    with ctl.store.begin() as conn:
        lock_core_map(conn)  # against a start deciding on the old request meanwhile
        row = manageable(conn, scope, job_id, "change")
        if not (row["held"] and row["state"] == J.PENDING.value):
            raise ApiError(409, "not_pending", f"deployment {job_id} is {status_of(row)}: only one that was not "
                                               "started yet can change", "id")
        new = {**row, **changes}
        if "cluster" in changes:
            cluster_named(conn, new["org_id"], new["cluster"])
        deps = dependency_ids(row) if after is None else after
        check_dependencies(conn, scope, new, deps)
        for dependent in deployments.dependents(conn, row):
            if dependent["cluster"] != new["cluster"]:
                raise ApiError(422, "other_cluster", f"cluster: deployment {dependent['id']} depends on this one "
                                                     f"in cluster {dependent['cluster']}", "cluster")
            if dependent["state"] not in _ENDED and dependent["priority"] > new["priority"]:
                raise ApiError(422, "lower_priority_dependency",
                               f"priority: deployment {dependent['id']} (priority {dependent['priority']}) depends "
                               f"on this pending one, which may not have a lower priority", "priority")
        _admit(conn, new)
        if after is not None:
            changes = {**changes, "depends_on": [{"job": d, "type": "afterok"} for d in after]}
        if "cores" in changes:
            changes["min_cores"] = changes["cores"]
        if changes and not deployments.change(conn, job_id, changes, ctl.clock(), actor):
            raise ApiError(409, "not_pending", f"deployment {job_id} was started meanwhile", "id")
        return deployments.get(conn, job_id)


def _resources_free(conn, row: dict) -> None:
    """The one start rule for resources: what the cluster holds (clusters.booked) plus this
    deployment's request within the cluster's quota; a cluster without a quota is not limited."""
    quota = clusters.get(conn, row["org_id"], row["cluster"])
    if quota is None:
        return
    held = clusters.booked(conn, row["org_id"], row["cluster"])
    for field, unit, asked, used, limit in (
            ("cores", "cores", row["cores"], held.cores, quota["quota_cores"]),
            ("memory_mb", "MB of memory", row["memory_mb"], held.memory_mb, quota["quota_memory_mb"]),
            ("gpus", "GPUs", row["gpus"], held.gpus, quota["quota_gpus"])):
        if limit is not None and used + asked > limit:
            raise InsufficientResources(field, unit, row, max(0, limit - used), limit, asked)


class InsufficientResources(ApiError):
    """A start refused for want of quota, with its figures, so that an API that counts in
    other units (the root API's whole GB) words the same refusal in its own."""

    def __init__(self, field: str, unit: str, row: dict, free: int, limit: int, asked: int) -> None:
        self.unit, self.cluster, self.deployment = unit, row["cluster"], row["id"]
        self.free, self.limit, self.asked = free, limit, asked
        super().__init__(409, "insufficient_resources", self.worded(field, unit), field)

    def worded(self, field: str, unit: str, scale: int = 1) -> str:
        return (f"{field}: cluster {self.cluster} has {self.free // scale} of its {self.limit // scale} {unit} free; "
                f"deployment {self.deployment} asks {self.asked // scale}")


def _startable(conn, row: dict) -> None:
    if not (row["held"] and row["state"] == J.PENDING.value):
        raise ApiError(409, "not_pending", f"deployment {row['id']} is {status_of(row, books=True)}: only a pending "
                                           "deployment that was not started can start", "id")
    deps = deployments.by_ids(conn, dependency_ids(row))
    waiting = [f"{d} ({status_of(deps[d]) if d in deps else 'deleted'})" for d in dependency_ids(row)
               if d not in deps or deps[d]["state"] != J.SUCCEEDED.value]
    if waiting:
        raise ApiError(409, "dependencies_not_completed", f"after: deployment {row['id']} waits for "
                                                          f"{', '.join(waiting)} to complete", "after")
    _resources_free(conn, row)


def _start_in(conn, row: dict, now: float, actor: str) -> None:
    lock_core_map(conn)  # what the cluster holds must not change between the check and the release
    _startable(conn, row)
    if not deployments.release(conn, row["id"], now, actor):
        raise ApiError(409, "not_pending", f"deployment {row['id']} was started meanwhile", "id")


def start_ready_dependents(conn, row: dict, now: float, actor: str) -> list[int]:
    """Start every held dependent of ``row`` that may start now, highest priority first (so
    that it gets the free resources first). Returns their ids."""
    started = []
    for dependent in sorted(deployments.dependents(conn, row), key=lambda d: (-d["priority"], d["id"])):
        try:
            _startable(conn, deployments.get(conn, dependent["id"]))
        except ApiError:
            continue  # not pending, another dependency still runs, or no room: it stays as it is
        if deployments.release(conn, dependent["id"], now, actor):
            started.append(dependent["id"])
    return started


def start_dependents_of_completed(ctl: Controller, job_ids: list[int], actor: str) -> list[int]:
    """Deployments among ``job_ids`` whose process exited 0 (completed) start their held
    dependents, as a stop does. Its own transaction, core map locked first like every start
    (locking it inside the agent's report, after its node writes, could deadlock on PostgreSQL)."""
    started = []
    with ctl.store.begin() as conn:
        lock_core_map(conn)
        for job_id in job_ids:
            row = jobs.get(conn, job_id)
            if row is not None and row["kind"] == KIND and row["state"] == J.SUCCEEDED.value:
                started += start_ready_dependents(conn, row, ctl.clock(), actor)
    if started:
        ctl.wake()
    return started


async def start(ctl: Controller, scope: JobScope, job_id: int, actor: str = "api") -> dict:
    def write(conn) -> int:
        _start_in(conn, manageable(conn, scope, job_id, "start"), ctl.clock(), actor)
        return job_id
    await ctl.decide(write, keep=True)
    return _fresh(ctl, job_id)


async def stop(ctl: Controller, scope: JobScope, job_id: int, status: str = "completed", books: bool = False,
               actor: str = "api") -> dict:
    """Stop a running deployment as ``completed`` or ``failed``; its resources are free at once."""
    freed: list[str] = []

    def write(conn) -> int:
        lock_core_map(conn)
        row = manageable(conn, scope, job_id, "stop")
        if status_of(row, books) != "running":
            raise ApiError(409, "not_running", f"deployment {job_id} is {status_of(row, books)}: only a running "
                                               "deployment can stop" + ("" if books else " (cancel a pending one)"),
                           "id")
        freed.extend(jobs.nodes_of(conn, job_id))
        new = J.SUCCEEDED if status == "completed" else J.FAILED
        now = ctl.clock()
        if not jobs.transition(conn, job_id, J(row["state"]), new, now, detail=f"stopped as {status} by request",
                               actor=actor, node=row["node"], reason=f"stopped as {status}"):
            raise ApiError(409, "conflict", f"deployment {job_id} changed meanwhile (its process ended or it was "
                                            "evicted); look at it again", "id")
        start_ready_dependents(conn, row, now, actor)
        return job_id
    await ctl.decide(write, keep=True)
    if freed:
        ctl.notifier.touch(freed)  # their agents stop the process
    return _fresh(ctl, job_id)


def cancel(ctl: Controller, scope: JobScope, job_id: int, books: bool = False, actor: str = "api") -> dict:
    """Cancel a pending deployment (in the root API's view: one that was not started)."""
    with ctl.store.begin() as conn:
        lock_core_map(conn)
        row = manageable(conn, scope, job_id, "cancel")
        if status_of(row, books) != "pending" or row["state"] != J.PENDING.value:
            raise ApiError(409, "not_pending", f"deployment {job_id} is {status_of(row, books)}: only a pending "
                                               "deployment can be cancelled" + ("" if books else " (stop a running one)"),
                           "id")
        if not jobs.transition(conn, job_id, J.PENDING, J.CANCELLED, ctl.clock(), detail="cancelled by request",
                               actor=actor, reason="cancelled"):
            raise ApiError(409, "conflict", f"deployment {job_id} was placed meanwhile; stop it instead", "id")
        return deployments.get(conn, job_id)


def delete(ctl: Controller, scope: JobScope, job_id: int, actor: str = "api") -> None:
    """Delete a deployment; a running one is cancelled first (its resources freed). One that
    other unfinished deployments depend on stays: they would wait for it forever."""
    with ctl.store.begin() as conn:
        lock_core_map(conn)
        row = manageable(conn, scope, job_id, "delete")
        waiting = [d["id"] for d in deployments.dependents(conn, row) if d["state"] not in _ENDED]
        if waiting:
            raise ApiError(409, "has_dependents", f"deployment {job_id} is a dependency of "
                                                  f"{', '.join(map(str, waiting))}: delete or cancel those first", "id")
        held_on = jobs.nodes_of(conn, job_id)
        if row["state"] not in _ENDED:
            jobs.transition(conn, job_id, J(row["state"]), J.CANCELLED, ctl.clock(), detail="deleted", actor=actor,
                            node=row["node"])
        deployments.remove(conn, row, ctl.clock(), actor)
    if held_on:
        ctl.notifier.touch(held_on)
        ctl.wake()


def links(conn, row: dict) -> tuple[list[dict], list[dict]]:
    """Its dependencies (that still exist) and its dependents."""
    deps = deployments.by_ids(conn, dependency_ids(row))
    return [deps[d] for d in dependency_ids(row) if d in deps], deployments.dependents(conn, row)


def _fresh(ctl: Controller, job_id: int) -> dict:
    with ctl.store.read() as conn:
        row = deployments.get(conn, job_id)
    if row is None:
        raise not_found("deployment", job_id)
    return row
