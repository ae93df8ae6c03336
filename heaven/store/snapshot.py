"""Reading the store into the core's immutable Snapshot (the only converter that way)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, Text, or_, select, type_coerce

from heaven.core import Allocation, Job, Node, Snapshot
from heaven.core.config import DEFAULT_CLUSTER
from heaven.core.fairshare import core_seconds
from heaven.core.model import Quota, Reservation, Usage, cluster_key
from heaven.core.queue import FIELD_KEYS
from heaven.core.states import TERMINAL_JOB_STATES, JobState, NodeState
from heaven.store.jobs import HOLDING_STATE_VALUES
from heaven.store.tables import clusters, core_claims, jobs, nodes


@dataclass(frozen=True)
class UsagePolicy:
    """How measured samples become the usage the core trusts: after ``warmup``
    seconds and at least ``min_samples`` samples, the 90th percentile of the
    window (a high percentile: a job that is busy now and then keeps its cores),
    and never less than the latest sample (a job that just got busy is busy)."""

    warmup: float = 5.0
    min_samples: int = 3
    percentile: float = 0.9

    def estimate(self, usage: list[float], started_at: float | None, now: float | None) -> float | None:
        if now is None or started_at is None or len(usage) < self.min_samples or now - started_at < self.warmup:
            return None
        ordered = sorted(usage)
        return max(ordered[min(len(ordered) - 1, int(self.percentile * len(ordered)))], usage[-1]) / 100.0


def to_core_node(row) -> Node:
    return Node(
        name=row.name, core_offset=row.core_offset, local_cores=tuple(row.local_cores),
        memory_mb=row.memory_mb, storage_mb=row.storage_mb, gpus=row.gpus,
        reserved=frozenset(row.reserved or ()), state=NodeState(row.state), cluster=row.cluster, org=row.org_id,
    )


# The dependency list comes as raw JSON text and is decoded only when not empty:
# on a queue of thousands, decoding "[]" per row per cycle is most of the cost.
_JOB_FIELDS = (jobs.c.id, jobs.c.cores, jobs.c.min_cores, jobs.c.memory_mb, jobs.c.storage_mb, jobs.c.gpus,
               jobs.c.priority, jobs.c.submitted_at, jobs.c.node_pin, jobs.c.walltime, jobs.c.state, jobs.c.name,
               jobs.c.cluster, type_coerce(jobs.c.depends_on, Text).label("depends_on"), jobs.c.started_at,
               jobs.c.nodes, jobs.c.org_id, jobs.c.kind)
_STATES = {s.value: s for s in JobState}
_TERMINAL = [s.value for s in TERMINAL_JOB_STATES]


def head_order(order: str) -> list:
    """ORDER BY clauses reading pending jobs in the core's named order (orderings of plain fields only)."""
    return [jobs.c[name].desc() if descending else jobs.c[name] for name, descending in FIELD_KEYS[order]]


def to_core_job(row, suspended_on: str | None = None) -> Job:
    deps = row.depends_on
    if isinstance(deps, str):
        deps = json.loads(deps) if deps not in ("[]", "") else ()
    return Job(
        row.id, row.cores, row.min_cores, row.memory_mb, row.storage_mb, row.gpus, row.priority, row.submitted_at,
        row.node_pin, row.walltime, _STATES[row.state], row.name, row.cluster,
        tuple((d["job"], d["type"]) for d in deps or ()), row.nodes, row.org_id,
        holds_quota=row.kind == "service",  # held ones never reach the core (`schedulable`)
        suspended_on=suspended_on,
    )


def schedulable(now: float | None) -> tuple:
    """The pending jobs the scheduler may see: not held (a deployment created but not started),
    and not in a crash back-off that ends after ``now``. The clock stays here, outside the core:
    the core is never shown a job it must not place yet."""
    conditions = (jobs.c.state == JobState.PENDING.value, jobs.c.held.is_(False))
    if now is None:
        return conditions
    return (*conditions, or_(jobs.c.not_before.is_(None), jobs.c.not_before <= now))


def load_nodes(conn: Connection) -> list[Node]:
    return [to_core_node(r) for r in conn.execute(select(nodes))]


def load_snapshot(conn: Connection, now: float | None = None, usage: UsagePolicy = UsagePolicy(),
                  reservation: Reservation | None = None, pending_after: int | None = None,
                  pending_limit: int | None = None, order: str = "priority",
                  half_life: float | None = None) -> Snapshot:
    """Everything active, as the core sees it. Without ``now`` no usage is
    trusted (nothing can be stolen): verification does not need it.
    ``pending_after``: only pending jobs with a larger id (a cycle for new submissions);
    ``pending_limit``: only the head of the queue in the core's ``order`` (one of FIELD_KEYS).
    Held jobs and jobs in a crash back-off are left out (``schedulable``).
    ``half_life``: fair share is on; each organization's decayed usage comes too (``fair_usage``)."""
    node_rows = conn.execute(select(nodes)).all()
    query = select(*_JOB_FIELDS).where(*schedulable(now))
    if pending_after is not None:
        query = query.where(jobs.c.id > pending_after)
    if pending_limit is not None:
        query = query.order_by(*head_order(order)).limit(pending_limit)
    pending = conn.execute(query).all()
    # The jobs holding cores and their claims in ONE statement: under READ COMMITTED each
    # statement sees its own snapshot, and an agent's report ends a job (deleting its claims)
    # without the core-map lock. Read apart, a job could be seen running with no cores left;
    # the core then planned it a grow back onto them, writing a claim for an ended job that
    # failed every later cycle (found by the chaos test, tests/e2e/test_chaos.py).
    running_claims = conn.execute(
        select(*_JOB_FIELDS, jobs.c.node, jobs.c.gpu_ids, jobs.c.usage, jobs.c.resized_at,
               core_claims.c.node.label("claim_node"), core_claims.c.core.label("claim_core"),
               core_claims.c.lent_by.label("claim_lent_by"))
        .select_from(jobs.outerjoin(core_claims, core_claims.c.job_id == jobs.c.id))
        .where(jobs.c.state.in_(HOLDING_STATE_VALUES)).order_by(jobs.c.id, core_claims.c.core)).all()
    running = list({r.id: r for r in running_claims}.values())
    # Suspended jobs hold no cores; the core resumes them where their process waits.
    suspended = conn.execute(select(*_JOB_FIELDS, jobs.c.node).where(jobs.c.state == JobState.SUSPENDED.value)).all()
    frozen_on = {r.id: r.node for r in suspended}
    job_rows = sorted([*pending, *running, *suspended], key=lambda r: r.id)
    held: dict[tuple[int, str], list[int]] = {}  # (job, node) -> cores: a gang holds cores on several nodes
    lent: dict[int, list[tuple[int, int]]] = {}
    for r in running_claims:
        if r.claim_core is None:
            continue
        held.setdefault((r.id, r.claim_node), []).append(r.claim_core)
        if r.claim_lent_by is not None:
            lent.setdefault(r.id, []).append((r.claim_core, r.claim_lent_by))
    parts: dict[int, list[str]] = {}
    for job_id, node in held:
        parts.setdefault(job_id, []).append(node)
    allocations = []
    for row in running:
        # An assigned job's process is about to start: for backfill's end estimates and
        # preemption's newest-first it started now.
        started = row.started_at if row.started_at is not None else (now or 0.0)
        recent = row.usage[-1] / 100.0 if row.usage else None
        used = usage.estimate(row.usage or [], row.started_at, now)
        for node in parts.get(row.id, [row.node]):
            allocations.append(Allocation(
                row.id, node, tuple(held.get((row.id, node), ())), row.memory_mb, row.storage_mb,
                tuple(row.gpu_ids or ()) if node == row.node else (), started,
                used if row.nodes == 1 else None, recent if row.nodes == 1 else None, row.resized_at,
                tuple(lent.get(row.id, ())),
            ))
    core_jobs = tuple(to_core_job(r, frozen_on.get(r.id)) for r in job_rows)
    return Snapshot(
        tuple(to_core_node(r) for r in node_rows), core_jobs, tuple(allocations), reservation,
        _ended_dependencies(conn, core_jobs), _quotas(conn),
        fair_usage(conn, now, half_life) if half_life is not None and now is not None else {},
    )


# Older than this many half-lives, an attempt weighs under 1e-6 of what it did: it is not read.
_FORGOTTEN = 20


def fair_usage(conn: Connection, now: float, half_life: float) -> dict[tuple[int, str], Usage]:
    """Each (organization, cluster)'s decayed core-seconds as of ``now``, from the jobs table: every
    job's latest attempt, its requested cores from its start to its end (or now), in the cluster of
    the node it ran on. Earlier attempts of a requeued job and live resizes are not counted."""
    query = (select(jobs.c.org_id, nodes.c.cluster, jobs.c.cores, jobs.c.nodes, jobs.c.started_at, jobs.c.finished_at)
             .join(nodes, nodes.c.name == jobs.c.node)
             .where(jobs.c.started_at.is_not(None),
                    or_(jobs.c.finished_at.is_(None), jobs.c.finished_at > now - _FORGOTTEN * half_life)))
    out: dict[tuple[int, str], float] = {}
    for org, cluster, cores, parts, started, finished in conn.execute(query):
        key = (org, cluster or DEFAULT_CLUSTER)
        end = finished if finished is not None else now
        out[key] = out.get(key, 0.0) + core_seconds(cores * (parts or 1), started, end, now, half_life)
    return {key: Usage(value, now) for key, value in out.items()}


def _ended_dependencies(conn: Connection, active: tuple[Job, ...]) -> dict[int, JobState]:
    wanted = {dep for job in active for dep, _ in job.depends_on} - {j.id for j in active}
    if not wanted:
        return {}
    # Only jobs that ended: a dependency still pending outside this snapshot (a cycle over
    # new submissions or the queue head) is not known here, and unknown means waiting.
    rows = conn.execute(select(jobs.c.id, jobs.c.state).where(jobs.c.id.in_(wanted),
                                                              jobs.c.state.in_(_TERMINAL)))
    return {job_id: JobState(state) for job_id, state in rows}


def _quotas(conn: Connection) -> dict[str, Quota]:
    rows = conn.execute(select(clusters)).all()
    return {cluster_key(r.org_id, r.name): Quota(r.quota_cores, r.quota_memory_mb, r.quota_gpus) for r in rows
            if (r.quota_cores, r.quota_memory_mb, r.quota_gpus) != (None, None, None)}
