"""Use cases for the controller's own agents: register, report, assignments."""
from __future__ import annotations

from sqlalchemy import and_, bindparam, func, or_, select, update

from heaven.control import deployment_service
from heaven.control.accounting import USAGE, usage_detail
from heaven.control.errors import ApiError, not_found
from heaven.control.node_auth import Joining
from heaven.control.runtime import Controller
from heaven.core.states import JobState, NodeState
from heaven.control.tokens import NODE_CREDENTIAL_PREFIX, new_api_token
from heaven.store import clusters, events, join_tokens, jobs, nodes
from heaven.store.apply import lock_core_map
from heaven.store.engine import default_org_id
from heaven.store.tables import core_claims, people
from heaven.store.tables import events as event_table
from heaven.store.tables import jobs as job_table
from heaven.wire.agent import OUT_OF_MEMORY, REQUEUED_CAUSES, AgentRegister, AgentReport, Assignment, Exited
from heaven.wire.fields import retry_memory_factors


def register_node(ctl: Controller, values: dict, requested_offset: int | None, actor: str,
                  org_id: int | None = None, credential_hash: str | None = None) -> dict:
    """Shared by the agent registration (``org_id``: its join token's; ``credential_hash``: the
    node's new credential) and the original protocol's /register (the default organization)."""
    with ctl.store.begin() as conn:
        lock_core_map(conn)
        org_id = org_id if org_id is not None else default_org_id(conn)
        existing = nodes.get(conn, values["name"])
        count = len(values["local_cores"])
        span = max(count, values.get("max_cores") or 0)  # a VM node keeps room for the vCPUs it may gain
        if existing is not None and existing["org_id"] != org_id:
            raise ApiError(409, "name_taken", f"node name {values['name']} is taken; choose another (--name)", "name")
        if existing is not None:
            offset = existing["core_offset"]
            if requested_offset is not None and requested_offset != offset:
                raise ApiError(409, "offset_mismatch", f"node {values['name']} already has core_offset {offset}", "core_offset")
            if count != len(existing["local_cores"]) and jobs.held_per_node(conn).get(values["name"]):
                raise ApiError(409, "cores_in_use", f"node {values['name']} cannot change its core count while jobs hold cores", "local_cores")
        else:
            offset = nodes.next_offset(conn) if requested_offset is None else requested_offset
        clash = nodes.overlapping(conn, values["name"], offset, span)
        if clash:
            raise ApiError(409, "offset_overlap", f"cores {offset}..{offset + span - 1} overlap node {clash}", "core_offset")
        row, _ = nodes.register(conn, {"org_id": org_id, "core_offset": offset, **values}, ctl.clock(), actor)
        clusters.ensure(conn, org_id, row["cluster"], ctl.clock())
        if credential_hash is not None:  # a new one each time: the agent's last registration holds the only one
            join_tokens.set_node_credential(conn, values["name"], credential_hash)
    ctl.wake()
    return row


def register_agent(ctl: Controller, body: AgentRegister, joining: Joining) -> tuple[dict, str]:
    """The node row and its new credential (the secret: answered once, stored hashed).
    A join token that names a cluster puts the node there; an agent that names another
    one explicitly is refused rather than silently moved."""
    cluster = joining.cluster or body.cluster
    if joining.cluster is not None and body.cluster not in ("default", joining.cluster):
        raise ApiError(409, "wrong_cluster", f"cluster: this join token is for cluster {joining.cluster}, "
                                             f"not {body.cluster}", "cluster")
    reserved = body.reserved if body.reserved is not None else [c for c in ctl.settings.reserve_cores if c in body.local_cores]
    if len(set(body.local_cores)) != len(body.local_cores):
        raise ApiError(422, "invalid_input", "local_cores: must not repeat a CPU", "local_cores")
    values = {"name": body.name, "endpoint": body.endpoint, "kind": "heaven", "local_cores": body.local_cores,
              "reserved": reserved, "memory_mb": body.memory_mb, "storage_mb": body.storage_mb, "gpus": body.gpus,
              "cluster": cluster, "agent_key": body.agent_key, "max_cores": body.max_cores,
              "disconnect_grace": body.disconnect_grace}
    credential, credential_hash = new_api_token(NODE_CREDENTIAL_PREFIX)
    row = register_node(ctl, values, body.core_offset, f"agent:{body.name}", joining.org_id, credential_hash)
    return row, credential


def report(ctl: Controller, node: str, body: AgentReport) -> None:
    now, actor = ctl.clock(), f"agent:{node}"
    freed = False
    others: set[str] = set()
    started: list[int] = []  # assigned -> running in this report
    ended: list[int] = []  # ended in this report (a completed deployment may start its dependents)
    with ctl.store.begin() as conn:
        row = nodes.get(conn, node)
        if row is None:
            raise not_found("node", node)
        came_back = NodeState(row["state"]) in nodes.RETURNING_STATES
        nodes.heartbeat(conn, node, now, body.node, actor=actor, was_away=came_back)
        if body.leaving:
            nodes.set_state(conn, node, NodeState.UP, NodeState.DRAIN, now, "its agent was drained and leaves", actor)
        for s in body.started:
            if not _is_this_run(conn, node, s.job, s.run):
                continue
            if jobs.mark_started(conn, s.job, now, actor, node, s.pid):
                started.append(s.job)
            else:  # already running: another part of a gang, or a restarted agent ran it afresh
                conn.execute(update(job_table).where(*_this_run(node, s.job, s.run)).values(pid=s.pid, pids=[s.pid]))
        for e in body.exits:
            _record_measured(conn, node, e, now, actor)  # what the run used, however it ended
            if _is_this_run(conn, node, e.job, e.run):
                if e.cause in REQUEUED_CAUSES:  # stopped by its own side, not failed: it runs again
                    parts = jobs.nodes_of(conn, e.job)
                    jobs.requeue_or_end(conn, e.job, JobState.LOST, now, f"{e.cause} on node {node}", actor)
                    freed = True
                    others |= set(parts) - {node}
                    continue
                if e.cause == OUT_OF_MEMORY and _retry_with_more_memory(conn, ctl.settings.retry_memory, e.job, now, actor):
                    freed = True
                    continue
                parts = jobs.nodes_of(conn, e.job)
                if jobs.finish_part(conn, e.job, node, e.exit_code, now, actor, e.cause or ""):
                    freed = True
                    ended.append(e.job)
                    others |= set(parts) - {node}  # a gang's other parts must stop too
        for f in body.failed_to_start:
            if _is_this_run(conn, node, f.job, f.run):
                # From assigned, or from running when another part of a gang already started.
                parts = jobs.nodes_of(conn, f.job)
                why = f.cause or "the agent could not start the command"
                if jobs.transition(conn, f.job, JobState(jobs.get(conn, f.job)["state"]), JobState.FAILED, now,
                                   actor=actor, node=node, detail=why, reason=why, exit_code=f.exit_code):
                    freed = True
                    others |= set(parts) - {node}
        if body.jobs:
            _record_usage(conn, node, body, ctl.settings.steal_window)
    if ended:
        deployment_service.start_dependents_of_completed(ctl, ended, actor)
    ctl.watchers.changed([*started, *(e.job for e in body.exits), *(f.job for f in body.failed_to_start)])
    if came_back:
        ctl.notifier.touch([node])  # it must drop what was requeued while it was away
    if others:
        ctl.notifier.touch(others)
    if freed or came_back:
        ctl.wake()


def _record_measured(conn, node: str, e: Exited, now: float, actor: str) -> None:
    """The run's ``usage`` event (accounting.py reads it), in the exit's transaction: one per
    run and node, and none when the agent measured nothing (a container, an older agent).
    Also for an exit that comes after the run was ended here (a cancel, a preemption, a
    walltime: the agent stops the job once it is no longer assigned), as long as the job has
    had no later run and ran on this node: its row's node, or cores it still holds here (a
    gang's other parts are only known while they hold them)."""
    if e.cpu_seconds is None and e.peak_memory_mb is None:
        return
    row = conn.execute(select(job_table.c.org_id, job_table.c.runs, job_table.c.node)
                       .where(job_table.c.id == e.job)).first()
    if row is None or row.runs != e.run or (row.node != node and not _is_this_run(conn, node, e.job, e.run)):
        return
    events.record_once(conn, now, USAGE, usage_detail(e.run, e.cpu_seconds, e.peak_memory_mb), actor=actor,
                       job=e.job, node=node, org_id=row.org_id)


def _retry_with_more_memory(conn, default_steps: str, job_id: int, now: float, actor: str) -> bool:
    """Running -> pending with a raised memory request, once per step of the job's own
    ``retry_memory`` or else HEAVEN_RETRY_MEMORY (factors of the ORIGINAL request); False when
    no step is left (the job then fails)."""
    row = jobs.get(conn, job_id)
    steps = default_steps if row["retry_memory"] is None else row["retry_memory"]
    try:
        factors = retry_memory_factors(steps)
    except ValueError:  # stored before steps had to rise (0.5x, 1x): such a retry would fail again
        return False
    if not factors or row["kind"] != "batch" or row["nodes"] != 1 or not row["memory_mb"]:
        return False
    done = conn.execute(select(func.count()).select_from(event_table).where(
        event_table.c.job == job_id, event_table.c.action == "requeue",
        event_table.c.detail.like(f"{OUT_OF_MEMORY}%"))).scalar()
    if done >= len(factors):
        return False
    original = row["memory_mb"] / (factors[done - 1] if done else 1)
    raised = int(round(original * factors[done]))
    return jobs.transition(conn, job_id, JobState.RUNNING, JobState.PENDING, now, actor=actor, node=row["node"],
                           detail=f"{OUT_OF_MEMORY} at {row['memory_mb']} MB: requeued with {raised} MB "
                                  f"(retry {done + 1} of {len(factors)}, {factors[done]:g}x)",
                           memory_mb=raised, pid=None, pids=[], gpu_ids=[], started_at=None)


def _record_usage(conn, node: str, body: AgentReport, window: int) -> None:
    """Latest sample per job, and a sliding window of samples for the usage estimate. The
    window keeps demand, use plus run-queue wait: a job crowded off its cores by other work,
    or with more busy threads than cores, must not read as idle (to stealing) nor as sated
    (to give-back). ``cpu_percent`` stays what it got, for people to read."""
    ids = list(body.jobs)
    current = dict(conn.execute(select(job_table.c.id, job_table.c.usage).where(
        job_table.c.id.in_(ids), job_table.c.node == node, job_table.c.state == JobState.RUNNING.value)).all())
    rows = [{"jid": j, "cpu": s.cpu_percent, "rss": s.rss_mb, "p": s.pids,
             "u": ([*(current[j] or []), round(s.cpu_percent + s.wait_percent, 1)])[-window:]}
            for j, s in body.jobs.items() if j in current]
    if rows:
        conn.execute(update(job_table).where(job_table.c.id == bindparam("jid"))
                     .values(cpu_percent=bindparam("cpu"), rss_mb=bindparam("rss"), pids=bindparam("p"), usage=bindparam("u")),
                     rows)


def _this_run(node: str, job_id: int, run: int) -> tuple:
    """Conditions naming one attempt of a job holding a part on one node: a report
    about an earlier attempt (the job was requeued meanwhile) must not touch it."""
    on_node = select(core_claims.c.job_id).where(core_claims.c.job_id == job_id, core_claims.c.node == node).exists()
    # A suspended job holds no cores: its process is on the node it ran on.
    frozen_here = and_(job_table.c.state == JobState.SUSPENDED.value, job_table.c.node == node)
    return (job_table.c.id == job_id, job_table.c.runs == run,
            or_(and_(on_node, job_table.c.state.in_(jobs.HOLDING_STATE_VALUES)), frozen_here))


def _is_this_run(conn, node: str, job_id: int, run: int) -> bool:
    return conn.execute(select(job_table.c.id).where(*_this_run(node, job_id, run))).first() is not None


def assignments(ctl: Controller, node: str) -> list[Assignment]:
    """Everything that should run on ``node`` now: the level the agent reconciles to."""
    with ctl.store.read() as conn:
        row = nodes.get(conn, node)
        if row is None:
            raise not_found("node", node)
        held: dict[int, list[int]] = {}
        claims = select(core_claims.c.job_id, core_claims.c.core).where(core_claims.c.node == node).order_by(core_claims.c.core)
        for job_id, core in conn.execute(claims):
            held.setdefault(job_id, []).append(core)
        # Every job with cores here (a gang has a part on several nodes), adopted PIDs included.
        holding = conn.execute(select(job_table).where(or_(
            and_(job_table.c.id.in_(list(held)), job_table.c.state.in_(jobs.HOLDING_STATE_VALUES)),
            and_(job_table.c.node == node, job_table.c.state == JobState.SUSPENDED.value)))).all()
        owner_ids = {j.owner_id for j in holding if j.owner_id is not None}
        owners = dict(conn.execute(select(people.c.id, people.c.username).where(people.c.id.in_(owner_ids))).all()) \
            if owner_ids else {}
    local = row["local_cores"]
    return [Assignment(id=j.id, run=j.runs, kind=j.kind, command=j.command, memory_mb=j.memory_mb, pid=j.pid if j.kind == "adopted" else None, owner=owners.get(j.owner_id),
                       image=j.docker_image, suspended=j.state == JobState.SUSPENDED.value,
                       local_cores=[local[c - row["core_offset"]] for c in held.get(j.id, [])]) for j in holding]
